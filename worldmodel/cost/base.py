"""Cost: the energy the actor minimises, C(s) = IC(s) + TC(s).

The intrinsic cost IC is fixed by design (no trainable parameters, checked); the trainable
critic TC predicts future intrinsic cost and serves as the terminal cost of a plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch


@dataclass
class TaskConfig:
    """What the configurator sets for one task: the goal latent and the cost weights."""

    goal: torch.Tensor  # [E, D] goal latent, one per environment
    weights: dict[str, float] = field(default_factory=dict)
    horizon: int = 20
    mode: int = 2  # 1: reactive policy, 2: planning


@runtime_checkable
class IntrinsicCost(Protocol):
    """IC(states, actions, task) -> [B]; immutable (no trainable parameters)."""

    def __call__(
        self, states: torch.Tensor, actions: torch.Tensor, task: TaskConfig
    ) -> torch.Tensor:
        """states [B, H, D], actions [B, H, A], task.goal [B, D] (already expanded) -> [B]."""
        ...


@runtime_checkable
class Critic(Protocol):
    """TC(state) -> [B]: a trainable estimate of the intrinsic cost still to come."""

    def __call__(self, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """state [B, D], goal [B, D] -> [B]."""
        ...


def assert_immutable(cost: object) -> None:
    """Raise if an intrinsic cost holds trainable parameters (IC is fixed by design)."""
    for part in _parts(cost):
        trainable = (isinstance(part, torch.nn.Parameter) and part.requires_grad) or (
            isinstance(part, torch.nn.Module) and any(p.requires_grad for p in part.parameters())
        )
        if trainable:
            raise TypeError(
                f"intrinsic cost {type(cost).__name__} has trainable parameters; the intrinsic "
                "cost must be immutable: freeze them (requires_grad_(False)) or move the "
                "learned part into the critic"
            )


def _parts(obj: object, depth: int = 3):
    """The object, its attributes and the items of its lists, a few levels deep."""
    yield obj
    if depth == 0 or isinstance(obj, torch.Tensor | torch.nn.Module | str | int | float):
        return
    children = obj if isinstance(obj, list | tuple) else getattr(obj, "__dict__", {}).values()
    for child in children:
        yield from _parts(child, depth - 1)
