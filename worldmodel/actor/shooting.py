"""Random shooting: sample many action sequences once, keep the cheapest."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmodel.config import check_ranges

from .planner import BestSoFar, Objective, PlanResult, evaluate


@dataclass
class RandomShooting:
    """Uniform sequences in [-1, 1] plus the warm start; one evaluation."""

    samples: int = 1000
    seed: int | None = None

    def __post_init__(self) -> None:
        check_ranges(self, positive=("samples",))

    def optimize(self, objective: Objective, init: torch.Tensor) -> PlanResult:
        gen = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        shape = (init.shape[0], self.samples, *init.shape[1:])
        actions = torch.rand(shape, generator=gen, dtype=init.dtype) * 2 - 1
        actions[:, 0] = init.clamp(-1, 1)
        best = BestSoFar(init)
        best.update(actions, evaluate(objective, actions))
        return best.result()
