"""Mode-1 (a reactive policy distilled from Mode-2) against Mode-2 (planning), side by side.

    python bench/mode1_vs_mode2.py [--episodes 40] [--out runs/mode1]

Mode-2 (iCEM on the Two Rooms oracle) plays ``episodes`` episodes; its perceived states,
goals and executed actions in the short-term memory train the policy (``distill``); then
both actors play the same held-out episode seeds. Writes policy.pt (usable as
``jepa plan actor=policy actor.params.checkpoint=<out>/policy.pt``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import worldmodel.evaluation as evaluation
from worldmodel.actor import PolicyNet, distill_from_memory
from worldmodel.evaluation import PlanConfig, run_plan
from worldmodel.jepa.checkpoint import save_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--out", default="runs/mode1")
    args = parser.parse_args()
    out = Path(args.out)

    teacher = PlanConfig(episodes=args.episodes, video_episodes=0, progress=False,
                         out=str(out / "teacher"), seeds=[1])
    teacher.actor.name = "icem"
    # Run the teacher through the protocol, keeping its agent (and so its memory).
    agents = []
    original = evaluation.build_agent

    def keep(cfg, env):
        agents.append(original(cfg, env))
        return agents[-1]

    evaluation.build_agent = keep
    try:
        run_plan(teacher)
    finally:
        evaluation.build_agent = original
    memory = agents[0].memory
    policy = PolicyNet(agents[0].perception.latent_dim, 2)
    losses = distill_from_memory(policy, memory, steps=3000, lr=1e-3)
    save_atomic(policy.state_dict(), out / "policy.pt")

    rows = []
    for name, params in (("icem", {}), ("policy", {"checkpoint": str(out / "policy.pt")})):
        cfg = PlanConfig(episodes=args.episodes, video_episodes=0, progress=False,
                         out=str(out / name), seeds=[0])
        cfg.actor.name, cfg.actor.params = name, params
        summary = run_plan(cfg)
        rows.append({"actor": "Mode-2 iCEM" if name == "icem" else "Mode-1 policy",
                     "success": summary["success_rate"],
                     "steps": summary["mean_steps_to_success"],
                     "ms_per_call": round(summary["ms_per_plan"], 2)})
    print(json.dumps({"distill_loss_first_last": [losses[0], losses[-1]],
                      "memory_rows": len(memory), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
