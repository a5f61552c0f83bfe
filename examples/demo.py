"""A tour: collect small datasets, then plan with the six-module agent on the simulator.

`make demo` runs `jepa plan` on the shipped checkpoint; this is the longer tour, run by
`python examples/demo.py`. Each environment gets a few noisy-expert episodes and a preview
video (observation beside goal) under runs/demo/; then the agent plans with iCEM on the
Two Rooms simulator (the oracle world model) and writes its results, video and plots.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from worldmodel.cli import main

OUT = Path("runs/demo")


def run() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    for env in ("two_rooms", "point_room", "reacher", "point_maze"):
        rc = main(["collect", f"env={env}", "episodes=8", f"out={OUT / env}", "preview=4"])
        if rc:
            raise SystemExit(rc)
    rc = main(["plan", "env=two_rooms", "perception=state", "world_model=oracle", "actor=icem",
               "episodes=10", f"out={OUT / 'plan_two_rooms'}"])
    if rc:
        raise SystemExit(rc)
    print(json.dumps({"videos": sorted(str(p) for p in OUT.glob("*/*.mp4"))}, indent=2))


if __name__ == "__main__":
    run()
