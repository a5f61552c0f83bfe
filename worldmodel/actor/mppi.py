"""Model-predictive path integral control: a cost-weighted average of sampled sequences."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmodel.config import check_ranges

from .planner import BestSoFar, Objective, PlanResult, evaluate, gaussian_samples


@dataclass
class MPPI:
    """MPPI with softmax(-(cost - min) / (temperature * spread)) weights.

    Costs are measured in units of their spread (max - min over finite candidates), so the
    temperature means the same at any energy scale; shifting by the minimum and giving
    infinite costs zero weight keeps huge or overflowing energies from making NaN.
    """

    samples: int = 300
    iterations: int = 5
    temperature: float = 0.05
    noise_std: float = 0.5
    min_std: float = 0.05
    adapt_std: bool = True  # refit the std from the weighted samples, as in MPPI variants
    seed: int | None = None

    def __post_init__(self) -> None:
        check_ranges(self, positive=("samples", "iterations", "temperature", "noise_std"),
                     non_negative=("min_std",))

    def optimize(self, objective: Objective, init: torch.Tensor) -> PlanResult:
        gen = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        mean = init.clone()
        std = torch.full_like(init, self.noise_std)
        best = BestSoFar(init)
        for _ in range(self.iterations):
            actions = gaussian_samples(mean, std, self.samples, gen)
            actions[:, 0] = mean.clamp(-1, 1)
            cost = evaluate(objective, actions)
            best.update(actions, cost)
            w = self.weights(cost)[..., None, None]  # [E, N, 1, 1]
            mean = (w * actions).sum(1)
            if self.adapt_std:
                var = (w * (actions - mean[:, None]).pow(2)).sum(1)
                std = var.sqrt().clamp_min(self.min_std)
        return best.result()

    def weights(self, cost: torch.Tensor) -> torch.Tensor:
        """Importance weights [E, N] summing to 1 per environment."""
        finite = torch.isfinite(cost)
        low = torch.where(finite, cost, torch.inf).amin(1, keepdim=True)
        high = torch.where(finite, cost, -torch.inf).amax(1, keepdim=True)
        spread = (high - low).clamp_min(1e-12)
        shifted = (cost - low) / spread
        logits = torch.where(finite, -shifted / self.temperature, -torch.inf)
        all_bad = ~finite.any(1, keepdim=True)  # every candidate failed: uniform weights
        logits = torch.where(all_bad, torch.zeros_like(logits), logits)
        return torch.softmax(logits, dim=1)
