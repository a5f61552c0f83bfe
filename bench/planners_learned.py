"""Every Mode-2 planner on the same learned model from pixels: success and time per call.

    python bench/planners_learned.py [--env reacher] [--episodes 50] [--seed 0]

One shipped checkpoint (perception + world model), one cost, the protocol's fixed episode
seeds; only the actor changes, each at the budget of its config group (configs/actor). The
planners on the true simulator are in docs/benchmarks.md ("Planners on the oracle").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from worldmodel.cli import main as jepa

ACTORS = ["cem", "icem", "mppi", "grad", "shooting", "icem_fast"]
COST = {  # the cost the comparison plans with (docs/benchmarks.md); others: the defaults
    "reacher": ["cost=goal_l1", "cost.discount=1.0"],
    "two_rooms": [], "point_room": [],
}


def run(env: str, actor: str, episodes: int, seed: int, out: Path) -> dict:
    """One `jepa plan` run; its summary row."""
    start = time.perf_counter()
    if jepa(["plan", f"env={env}", f"actor={actor}", *COST[env], f"episodes={episodes}",
             f"seeds=[{seed}]", "video_episodes=0", "progress=false", f"out={out}"]):
        raise SystemExit(f"jepa plan env={env} actor={actor} failed")
    summary = json.loads((out / "results.json").read_text())["summary"]
    return {"env": env, "actor": actor, "success": round(summary["success_rate"], 3),
            "steps_to_success": summary["mean_steps_to_success"],
            "median_final_distance": round(summary["median_final_distance"], 4),
            "ms_per_plan": round(summary["ms_per_plan"], 1),
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="reacher", choices=sorted(COST))
    parser.add_argument("--actors", nargs="+", default=ACTORS)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench_results/planners_learned"))
    args = parser.parse_args()
    rows = []
    for actor in args.actors:
        rows.append(run(args.env, actor, args.episodes, args.seed,
                        args.out / f"{args.env}-{actor}"))
        print(json.dumps(rows[-1]), flush=True)
    (args.out / f"{args.env}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
