"""Rebuild the shipped checkpoints from scratch: `make checkpoints` (about two hours on 2
CPU cores; Reacher alone 27 minutes, the PointMaze U-maze 19 and its medium maze 61 (fp32, an
AVX2-only CPU; peak memory 7.3 GB), Point Room and Two Rooms about 15 together).

Runs the exact commands of ``worldmodel.checkpoints.RECIPES`` (collect, then train), strips
the optimiser state and writes the result into ``worldmodel/checkpoints/``. Pass names to
rebuild only some: ``python examples/make_checkpoints.py point_room.pt``.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from worldmodel.checkpoints import HERE, RECIPES, export
from worldmodel.cli import main


def rebuild(name: str) -> Path:
    start = time.perf_counter()
    for command in RECIPES[name]:
        args = shlex.split(command)[1:]  # drop the program name
        out = next(a.split("=", 1)[1] for a in args if a.startswith("out="))
        if args[0] == "train" and (Path(out) / "last.pt").exists():
            raise SystemExit(f"{out}/last.pt exists from an earlier build; remove {out} first")
        if main(args + ["progress=false"]):
            raise SystemExit(f"`{command}` failed")
    path = export(Path(out) / "last.pt", HERE / name)
    print(f"{name}: {path.stat().st_size / 2**20:.1f} MB in {time.perf_counter() - start:.0f} s")
    return path


if __name__ == "__main__":
    names = sys.argv[1:] or list(RECIPES)
    if {"-h", "--help"} & set(names):
        raise SystemExit(f"{__doc__}\ncheckpoints: {', '.join(RECIPES)}")
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise SystemExit(f"no recipe for {', '.join(unknown)}; the shipped checkpoints are "
                         f"{', '.join(RECIPES)}")
    for name in names:
        rebuild(name)
