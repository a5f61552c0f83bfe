"""World-model correction on a changed world: the shipped models planning an agent slower
(Two Rooms) or weaker (Point Room, Reacher, PointMaze) than the one they learned, with no
correction, the action calibration, and the predictor's weights corrected; and the
unchanged worlds.

    python bench/correction.py [--episodes 100] [--envs two_rooms point_room ...]
                               [--out runs/correction]

Each row is one `jepa plan` run (seed 0, batches of 10, iCEM, the shipped checkpoint); the
first batch plans before any correction, so the "11+" columns leave it out. About 25
minutes on 2 cores with the default 100 episodes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import malloc_flag

from worldmodel.cli import compose
from worldmodel.evaluation import PlanConfig, run_plan

WORLDS = {  # (env, the setting that changes the world, the value the model learned, another)
    "two_rooms": ("env.kwargs.max_step", 0.05, 0.035),
    "point_room": ("env.kwargs.motor_gear", 5.0, 2.0),
    "reacher": ("env.kwargs.motor_scale", 1.0, 0.5),
    "point_maze": ("env.kwargs.motor_scale", 1.0, 0.5),
}
CORRECTIONS = {
    "none": [],
    "action calibration": ["correction.steps=200"],
    "all weights": ["correction.steps=200", "correction.params=all", "correction.lr=3e-4"],
}


def plan(overrides: list[str], out: Path) -> dict:
    """One `jepa plan` run into ``out`` -> its summary and episodes."""
    summary = run_plan(compose("plan", [*overrides, f"out={out}"], PlanConfig))
    episodes = json.loads((out / "results.json").read_text())["episodes"]
    return {"summary": summary, "episodes": episodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--envs", nargs="+", choices=list(WORLDS), default=list(WORLDS))
    parser.add_argument("--out", default="runs/correction")
    args = malloc_flag.parse_args(parser)
    rows = []
    for env in args.envs:
        key, trained, changed = WORLDS[env]
        for value in (trained, changed):
            for name, extra in CORRECTIONS.items():
                out = Path(args.out) / f"{env}-{value}-{name.replace(' ', '_')}"
                run = plan([f"env={env}", f"{key}={value}", f"episodes={args.episodes}",
                            "video_episodes=0", "progress=false", *extra], out)
                s, later = run["summary"], run["episodes"][10:]
                solved = [e["steps"] for e in later if e["success"]]
                rows.append({
                    "env": env, key: value, "correction": name,
                    "success": s["success_rate"], "steps": s["mean_steps_to_success"],
                    "success_11+": (sum(e["success"] for e in later) / len(later)
                                    if later else None),
                    "steps_11+": sum(solved) / len(solved) if solved else None,
                    "first_correction": {k: s["corrections"][0][k] for k in
                                         ("error_before", "error_after")}
                    if s.get("corrections") else None,
                })
                print(json.dumps(rows[-1]), flush=True)
    print("| env | setting | correction | success | steps | episodes 11+ |")
    print("|---|---|---|---:|---:|---|")
    for r in rows:
        setting = next(f"{k}={v}" for k, v in r.items() if k.startswith("env."))
        steps = "-" if r["steps"] is None else f"{r['steps']:.1f}"
        later = "-" if r["success_11+"] is None else f"{100 * r['success_11+']:.1f}%"
        if r["steps_11+"] is not None:
            later += f", {r['steps_11+']:.1f}"
        print(f"| {r['env']} | {setting} | {r['correction']} | {100 * r['success']:.0f}% | "
              f"{steps} | {later} |")


if __name__ == "__main__":
    main()
