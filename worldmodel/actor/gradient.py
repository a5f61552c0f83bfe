"""Planning by gradient descent: Adam on the action sequence through the world model."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmodel.config import check_ranges

from .planner import BestSoFar, Objective, PlanResult


@dataclass
class GradientPlanner:
    """Several restarts optimised in parallel (the warm start is one of them); actions are
    projected back into [-1, 1] after every step."""

    restarts: int = 16
    iterations: int = 30
    lr: float = 0.1
    init_std: float = 0.3
    seed: int | None = None

    def __post_init__(self) -> None:
        check_ranges(self, positive=("restarts", "iterations", "lr"), non_negative=("init_std",))

    def optimize(self, objective: Objective, init: torch.Tensor) -> PlanResult:
        gen = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        E = init.shape[0]
        noise = torch.randn((E, self.restarts, *init.shape[1:]), generator=gen)
        start = (init[:, None] + self.init_std * noise).clamp(-1, 1)
        start[:, 0] = init.clamp(-1, 1)
        actions = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([actions], lr=self.lr)
        best = BestSoFar(init)
        for _ in range(self.iterations):
            with torch.enable_grad():
                cost = objective(actions)
                if not cost.requires_grad:
                    raise TypeError(
                        "the gradient planner needs a differentiable world model and cost "
                        "(got a cost with no gradient); use cem, icem, mppi or shooting"
                    )
                opt.zero_grad()
                cost.sum().backward()
            best.update(actions.detach(), torch.nan_to_num(cost.detach(), nan=float("inf")))
            opt.step()
            with torch.no_grad():
                actions.clamp_(-1.0, 1.0)
        with torch.no_grad():
            best.update(actions.detach(), torch.nan_to_num(objective(actions), nan=float("inf")))
        return best.result()
