"""Training throughput with 1 and 2 processes under torchrun, on the same global batch.

    python bench/ddp_throughput.py [--steps 40] [--out bench_results/ddp]

Runs `jepa pretrain` (ViT-tiny I-JEPA, batch 64) and `jepa train` (end-to-end world model,
batch 64, horizon 8) once in one process and once as two torchrun processes (gloo on CPU,
one thread each), on a small Two Rooms dataset it collects itself. Throughput is measured
between the first and the last logged step, so start-up and the first steps' kernel
planning are left out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path


def jepa(args: list[str], processes: int, env: dict) -> None:
    if processes == 1:
        cmd = [sys.executable, "-m", "worldmodel.cli", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
               "--master_port=29561", "-m", "worldmodel.cli", *args]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=3600)


def rate(rows: list[dict], per_step: int) -> float:
    """Samples per second between the first and last logged rows."""
    first, last = rows[0], rows[-1]
    steps = int(last["step"]) - int(first["step"])
    return steps * per_step / (float(last["seconds"]) - float(first["seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("bench_results/ddp"))
    args = parser.parse_args()
    env = {**os.environ, "TMPDIR": str(args.out / "tmp")}
    (args.out / "tmp").mkdir(parents=True, exist_ok=True)
    data = args.out / "data"
    if not data.exists():
        jepa(["collect", "episodes=64", f"out={data}", "preview=0", "progress=false"], 1, env)
    log_every = max(1, args.steps // 4)
    rows = []
    for stage, extra, log in (
        ("pretrain", ["model=tiny", "batch_size=64", "num_workers=0"], "log.csv"),
        ("train", ["batch_size=64", "horizon=8"], "log.jsonl"),
    ):
        for processes in (1, 2):
            out = args.out / f"{stage}-{processes}"
            if out.exists():
                import shutil

                shutil.rmtree(out)
            jepa([stage, f"data={data}", f"steps={args.steps}", f"log_every={log_every}",
                  f"save_every={10 * args.steps}", f"out={out}", "progress=false", *extra],
                 processes, env)
            path = out / log
            logged = list(csv.DictReader(path.open())) if log.endswith("csv") else \
                [json.loads(line) for line in path.open()]
            unit = "images" if stage == "pretrain" else "samples"
            rows.append({"stage": stage, "processes": processes,
                         f"{unit}_per_s": round(rate(logged, 64), 1)})
            print(json.dumps(rows[-1]))
    (args.out / "ddp.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
