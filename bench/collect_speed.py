"""Collection frames/s at 64x64 for each environment and vectorisation setting.

    python bench/collect_speed.py [--episodes N] [--out docs/bench/collect_speed.json]

Frames/s counts every stored observation (T + 1 per episode), end to end: environment
steps, rendering, policy, and writing the dataset to disk.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from worldmodel.config import EnvConfig
from worldmodel.data.collect import CollectConfig, collect

SETTINGS = [
    ("two_rooms", "worldmodel/TwoRooms-v0", 100, [("sync", 1), ("sync", 16)]),
    ("point_room", "worldmodel/PointRoom-v0", 100, [("sync", 1), ("sync", 2), ("async", 2)]),
    ("reacher", "worldmodel/Reacher-v0", 50, [("sync", 1), ("sync", 2), ("async", 2)]),
]


def run(episodes: int) -> list[dict]:
    rows = []
    for name, env_id, length, modes in SETTINGS:
        for mode, n in modes:
            with tempfile.TemporaryDirectory() as tmp:
                env = EnvConfig(name=name, id=env_id, episode_length=length, num_envs=n,
                                vectorization=mode)
                cfg = CollectConfig(env=env, episodes=episodes, out=str(Path(tmp) / "d"),
                                    progress=False, preview=0)
                _, summary = collect(cfg)
            rows.append({"env": name, "vectorization": mode, "num_envs": n,
                         "frames_per_second": summary["frames_per_second"]})
            print(f"{name:11} {mode:5} x{n:<3} {summary['frames_per_second']:>9.0f} frames/s",
                  flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--out", default="docs/bench/collect_speed.json")
    args = parser.parse_args()
    rows = run(args.episodes)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "machine": platform.node(),
                               "processor": platform.processor(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
