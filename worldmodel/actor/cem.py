"""Cross-entropy method: refit a diagonal Gaussian to the elite action sequences."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmodel.config import check_ranges

from .planner import BestSoFar, Objective, PlanResult, evaluate, gaussian_samples, top_k


@dataclass
class CEM:
    """CEM over action sequences, batched over environments and candidates."""

    samples: int = 300
    iterations: int = 5
    elites: int = 30
    init_std: float = 0.5
    min_std: float = 0.05
    momentum: float = 0.0  # weight of the old mean/std in each refit
    seed: int | None = None

    def __post_init__(self) -> None:
        check_ranges(self, positive=("samples", "iterations", "init_std"),
                     non_negative=("min_std",), unit=("momentum",))
        if not 0 < self.elites <= self.samples:
            raise ValueError(f"elites must be in 1..samples={self.samples}, got {self.elites}")
        self._gen = None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def optimize(self, objective: Objective, init: torch.Tensor) -> PlanResult:
        mean = init.clone()
        std = torch.full_like(init, self.init_std)
        best = BestSoFar(init)
        for _ in range(self.iterations):
            actions = gaussian_samples(mean, std, self.samples, self._gen)
            actions[:, 0] = mean.clamp(-1, 1)  # the current mean competes too
            cost = evaluate(objective, actions)
            best.update(actions, cost)
            elite, _ = top_k(actions, cost, self.elites)
            m = self.momentum
            mean = m * mean + (1 - m) * elite.mean(1)
            std = (m * std + (1 - m) * elite.std(1)).clamp_min(self.min_std)
        return best.result()
