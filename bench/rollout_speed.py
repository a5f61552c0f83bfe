"""Rollout throughput: candidate-steps per second, 300 candidates x horizon 20.

    python bench/rollout_speed.py [--repeats 5]

Every predictor type at the default size (latent 64), in fp32 and on a bf16 copy of its
weights, the residual MLP also with its layers unfused (``LearnedWorldModel(fused=False)``,
the predictor's own rollout), and the two oracles (analytic Two Rooms, copied-state MuJoCo
Point Room) for scale.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import malloc_flag
import torch
import worldmodel.envs  # noqa: F401

from worldmodel.world_model import MujocoOracle, TwoRoomsOracle
from worldmodel.world_model.learned import LearnedWorldModel
from worldmodel.world_model.predictors import ACTransformer, MLPPredictor

N, H, D, A = 300, 20, 64, 2


def throughput(model, state: torch.Tensor, repeats: int) -> float:
    actions = torch.rand(N, H, A) * 2 - 1
    with torch.no_grad():
        model.rollout(state, actions)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            model.rollout(state, actions)
            best = min(best, time.perf_counter() - start)
    return N * H / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = malloc_flag.parse_args(parser)
    torch.manual_seed(0)
    rows = []
    for name, net, fused in (("mlp", MLPPredictor(D, A, hidden=512), True),
                             ("mlp unfused", MLPPredictor(D, A, hidden=512), False),
                             ("transformer", ACTransformer(D, A), False)):
        for bf16 in (False, True):
            world = LearnedWorldModel(net, bf16=bf16, fused=fused)
            rate = throughput(world, torch.randn(N, D), args.repeats)
            rows.append({"model": name, "precision": "bf16" if bf16 else "fp32",
                         "candidate_steps_per_s": round(rate)})
    two = gym.make("worldmodel/TwoRooms-v0")
    _, info = two.reset(seed=0)
    rows.append({"model": "oracle two_rooms", "precision": "fp32", "candidate_steps_per_s": round(
        throughput(TwoRoomsOracle.from_env(two), torch.tensor(info["state"]).repeat(N, 1),
                   args.repeats))})
    room = gym.make("worldmodel/PointRoom-v0")
    _, info = room.reset(seed=0)
    rows.append({"model": "oracle point_room", "precision": "fp64",
                 "candidate_steps_per_s": round(throughput(
                     MujocoOracle.from_env(room), torch.tensor(info["state"]).repeat(N, 1),
                     args.repeats))})
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
