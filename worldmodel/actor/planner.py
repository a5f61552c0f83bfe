"""The planner interface shared by every Mode-2 optimiser: ``optimize(objective, init)``.

An objective maps action sequences of every candidate of every environment to their
energy: actions [E, N, H, A] -> cost [E, N]. Actions live in [-1, 1] (the environments
normalise their bounds), and every planner returns sequences inside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

Objective = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PlanResult:
    """The best plan per environment and how the search went."""

    actions: torch.Tensor  # [E, H, A]
    cost: torch.Tensor  # [E]
    history: list[float] = field(default_factory=list)  # best cost (mean over E) per iteration


@runtime_checkable
class Planner(Protocol):
    """A Mode-2 optimiser: minimise ``objective`` starting from ``init`` [E, H, A]."""

    def optimize(self, objective: Objective, init: torch.Tensor) -> PlanResult:
        ...


def evaluate(objective: Objective, actions: torch.Tensor) -> torch.Tensor:
    """Costs [E, N] of candidates [E, N, H, A], non-finite costs made worst (never chosen)."""
    with torch.no_grad():
        cost = objective(actions).float()
    if cost.shape != actions.shape[:2]:
        raise ValueError(
            f"objective returned costs of shape {tuple(cost.shape)} for candidates "
            f"{tuple(actions.shape)}; expected {tuple(actions.shape[:2])}"
        )
    return torch.nan_to_num(cost, nan=float("inf"))


def top_k(actions: torch.Tensor, cost: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k cheapest candidates: actions [E, k, H, A], costs [E, k] (ascending)."""
    best, idx = cost.topk(k, dim=1, largest=False)
    picked = actions.gather(1, idx[..., None, None].expand(-1, -1, *actions.shape[2:]))
    return picked, best


def gaussian_samples(mean: torch.Tensor, std: torch.Tensor, n: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples around mean [E, H, A] with std [E, H, A], clamped to [-1, 1] -> [E, n, H, A]."""
    noise = torch.randn((mean.shape[0], n, *mean.shape[1:]), generator=generator,
                        device=mean.device, dtype=mean.dtype)
    return (mean[:, None] + std[:, None] * noise).clamp(-1.0, 1.0)


class BestSoFar:
    """Keeps each environment's cheapest plan across iterations."""

    def __init__(self, init: torch.Tensor) -> None:
        self.actions = init.clone()
        self.cost = torch.full(init.shape[:1], float("inf"), device=init.device)
        self.history: list[float] = []

    def update(self, actions: torch.Tensor, cost: torch.Tensor) -> None:
        """Offer candidates [E, N, H, A] with costs [E, N]."""
        c, i = cost.min(dim=1)
        better = c < self.cost
        self.cost = torch.where(better, c, self.cost)
        chosen = actions[torch.arange(len(i), device=i.device), i]
        self.actions = torch.where(better[:, None, None], chosen, self.actions)
        finite = self.cost[torch.isfinite(self.cost)]
        self.history.append(float(finite.mean()) if len(finite) else float("inf"))

    def result(self) -> PlanResult:
        return PlanResult(self.actions, self.cost, self.history)
