"""The main job, end to end on this machine: collect small datasets and write preview videos.

Run by `make demo`. Each environment gets a few noisy-expert episodes and a preview video
(observation beside goal) under runs/demo/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from worldmodel.cli import main

OUT = Path("runs/demo")


def run() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    for env in ("two_rooms", "point_room", "reacher"):
        rc = main(["collect", f"env={env}", "episodes=8", f"out={OUT / env}", "preview=4"])
        if rc:
            raise SystemExit(rc)
    print(json.dumps({"videos": sorted(str(p) for p in OUT.glob("*/preview.mp4"))}, indent=2))


if __name__ == "__main__":
    run()
