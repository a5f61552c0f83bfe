"""Actor: produce the action. Mode-2 plans through the world model; Mode-1 reacts."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from worldmodel.cost.base import TaskConfig
from worldmodel.memory import ShortTermMemory


class ActionError(ValueError):
    """An actor produced actions that must not reach the environment."""


@runtime_checkable
class Actor(Protocol):
    """Latent state -> action. An actor that keeps plans per environment may also offer
    ``select(rows)``, to keep those of the environments still acting when others finish
    (``Agent`` otherwise calls ``reset``)."""

    def act(self, state: torch.Tensor, task: TaskConfig,
            memory: ShortTermMemory | None = None) -> torch.Tensor:
        """latent state [E, D] -> action [E, A] in [-1, 1]."""
        ...

    def reset(self) -> None:
        """Forget the last episode's plan."""
        ...


def checked_actions(actions: torch.Tensor, source: str) -> torch.Tensor:
    """NaN/inf actions are rejected (never sent to an environment); out-of-bound ones are
    clipped to [-1, 1]."""
    if not torch.isfinite(actions).all():
        raise ActionError(
            f"{source} produced NaN or infinite actions; check the world model and the cost "
            "for NaN (e.g. a diverging rollout) before planning again"
        )
    return actions.clamp(-1.0, 1.0)
