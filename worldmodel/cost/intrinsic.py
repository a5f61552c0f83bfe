"""Intrinsic costs: fixed functions of the predicted states and the actions."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .base import IntrinsicCost, TaskConfig, assert_immutable

Readout = Callable[[torch.Tensor], torch.Tensor]


class GoalDistance:
    """Distance to the goal latent, at the last step or weighted over the steps.

    ``readout`` maps states [..., D] to the space the goal is compared in (identity for
    latents; e.g. the fingertip position of a true Reacher state for oracle runs).
    ``discount`` < 1 weighs late steps more: weight_t = discount^(H-1-t), normalised.
    """

    def __init__(self, norm: str = "l2", last_only: bool = False, discount: float = 1.0,
                 readout: Readout | None = None, name: str = "goal") -> None:
        if norm not in ("l1", "l2", "sql2"):
            raise ValueError(f"norm must be l1, l2 or sql2, got {norm!r}")
        self.norm, self.last_only, self.discount = norm, last_only, discount
        self.readout = readout
        self.name = name

    def distance(self, states: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """states [B, ..., D], goal [B, D] -> [B, ...]."""
        if self.readout is not None:
            states, goal = self.readout(states), self.readout(goal)
        goal = goal.reshape(goal.shape[0], *([1] * (states.dim() - goal.dim())), goal.shape[-1])
        gap = (states - goal).flatten(2) if states.dim() > 2 else states - goal
        if self.norm == "l1":
            return gap.abs().mean(-1)
        sq = gap.pow(2).sum(-1)
        return sq if self.norm == "sql2" else (sq + 1e-12).sqrt()

    def __call__(self, states: torch.Tensor, actions: torch.Tensor,
                 task: TaskConfig) -> torch.Tensor:
        if self.last_only:
            return self.distance(states[:, -1], task.goal)
        d = self.distance(states, task.goal)  # [B, H]
        H = d.shape[1]
        w = self.discount ** torch.arange(H - 1, -1, -1, device=d.device, dtype=d.dtype)
        return (d * w).sum(1) / w.sum()


class ActionMagnitude:
    """Mean squared action: prefers gentle plans."""

    name = "action"

    def __call__(self, states: torch.Tensor, actions: torch.Tensor,
                 task: TaskConfig) -> torch.Tensor:
        return actions.pow(2).mean(dim=(1, 2))


class BoxConstraint:
    """Penalty for states whose readout leaves a box: sum of squared excursions."""

    name = "constraint"

    def __init__(self, low: list[float], high: list[float], readout: Readout | None = None):
        self.low, self.high = list(low), list(high)
        self.readout = readout

    def __call__(self, states: torch.Tensor, actions: torch.Tensor,
                 task: TaskConfig) -> torch.Tensor:
        x = self.readout(states) if self.readout is not None else states
        low = torch.as_tensor(self.low, dtype=x.dtype, device=x.device)
        high = torch.as_tensor(self.high, dtype=x.dtype, device=x.device)
        out = (low - x).clamp_min(0).pow(2) + (x - high).clamp_min(0).pow(2)
        return out.flatten(1).sum(1)


class WeightedSum:
    """sum_i w_i * IC_i, the weights taken from the task (the configurator sets them) and
    falling back to ``default_weights``."""

    def __init__(self, terms: list[IntrinsicCost], default_weights: dict[str, float] | None = None):
        self.terms = list(terms)
        self.default_weights = dict(default_weights or {})
        for term in self.terms:
            assert_immutable(term)

    def __call__(self, states: torch.Tensor, actions: torch.Tensor,
                 task: TaskConfig) -> torch.Tensor:
        total = 0.0
        for term in self.terms:
            name = getattr(term, "name", type(term).__name__)
            w = task.weights.get(name, self.default_weights.get(name, 1.0))
            if w:
                total = total + w * term(states, actions, task)
        return total
