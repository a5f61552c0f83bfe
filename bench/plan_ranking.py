"""Does a learned world model rank candidate plans as the true simulator does?

    python bench/plan_ranking.py [--env-id ID] [--checkpoint <last.pt> ...]
        [--starts 12] [--plans 400] [--horizon 15] [--amplitude 0.5]

With no checkpoint: the model shipped for the task (Two Rooms by default).

Separates model error from planner error (and the encoder's error from the predictor's).
From each of ``starts`` start states (a reset plus a few random steps), ``plans`` smooth
random action sequences of ``horizon`` steps (a constant push plus noise, as a planner's
search tries them) are rolled out twice: through the learned model from the perceived
latent, and through the true simulator from the true state. Reported, averaged over
starts:

* rank correlation of the model's planning cost (L1 to the goal latent at the last step)
  with the true final distance to the goal: 1 is a perfect model for planning, 0 blind;
* the true final distance of the model's 10 cheapest plans, beside the truly best 10 and
  the median plan: what a planner trusting the model would get;
* the same rank correlation with the cost of the *true* final frames, encoded: the
  ceiling the encoder's latent geometry allows (the predictor's share of the loss is the
  gap between the two);
* the latent L1 of the predicted last state to the encoded true last state, beside
  copy-last.
"""

from __future__ import annotations

import argparse
import json

import worldmodel.envs  # noqa: F401  (registers the tasks)

from worldmodel.checkpoints import shipped
from worldmodel.world_model.ranking import rank_plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", nargs="+", help="default: the shipped model")
    parser.add_argument("--env-id", default="worldmodel/TwoRooms-v0")
    parser.add_argument("--starts", type=int, default=12)
    parser.add_argument("--plans", type=int, default=400)
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--amplitude", type=float, default=0.5)
    parser.add_argument("--env-kwargs", type=json.loads, default={},
                        help='JSON, e.g. \'{"antialias": 0}\' for a model of aliased frames')
    args = parser.parse_args()
    print("| checkpoint | rank corr. (model) | rank corr. (encoder) | true dist. of model's "
          "top 10 | best 10 | median | latent L1 | copy-last |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.checkpoint or [str(shipped(args.env_id))]:
        r = rank_plans(path, args.env_id, args.starts, args.plans, args.horizon,
                       args.amplitude, env_kwargs=args.env_kwargs)
        print(json.dumps(r))
        print(f"| {path} | {r['rank_correlation']:.3f} | {r['encoder_rank_correlation']:.3f} | "
              f"{r['model_top10_distance']:.3f} | {r['best10_distance']:.3f} | "
              f"{r['median_distance']:.3f} | {r['latent_l1']:.3f} | "
              f"{r['latent_l1_copy_last']:.3f} |")


if __name__ == "__main__":
    main()
