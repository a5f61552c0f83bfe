"""World model: predict the state that follows an action, many steps ahead."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class WorldModel(Protocol):
    """``step`` one action; ``rollout`` a batch of action sequences with no Python loop over
    candidates (the batch dimension B holds every candidate of every environment)."""

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """state [B, D], action [B, A] -> next state [B, D]."""
        ...

    def rollout(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """state [B, D], actions [B, H, A] -> states [B, H, D] (after each action)."""
        ...


class StepRollout:
    """Mixin: ``rollout`` by iterating ``step`` over the horizon (batched over B)."""

    def rollout(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        states = []
        for t in range(actions.shape[1]):
            state = self.step(state, actions[:, t])
            states.append(state)
        return torch.stack(states, dim=1)


class ModuleWorldModel(StepRollout):
    """The one-line wrapper for a user's ``nn.Module`` f(state, action) -> next state."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.module(state, action)


def chunk_actions(actions: torch.Tensor, frameskip: int) -> torch.Tensor:
    """Env actions [B, k*H, A] -> model actions [B, H, k*A] for a world model whose one
    step spans k = ``frameskip`` env steps (k=1: unchanged)."""
    if actions.shape[1] % frameskip:
        raise ValueError(f"this world model steps {frameskip} env steps at a time: give it "
                         f"a multiple of {frameskip} actions, got {actions.shape[1]}")
    return actions.unflatten(1, (actions.shape[1] // frameskip, frameskip)).flatten(2)
