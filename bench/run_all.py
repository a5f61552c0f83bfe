"""Run every benchmark script in turn (`make bench`); figures go to docs/benchmarks.md by hand,
each with its command, machine and date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["collect_speed.py", "pretrain_speed.py", "rollout_speed.py", "mode1_vs_mode2.py"]


def main() -> None:
    for script in SCRIPTS:
        print(f"== {script}", flush=True)
        subprocess.run([sys.executable, str(HERE / script)], check=True)


if __name__ == "__main__":
    main()
