"""A trained latent predictor behind the WorldModel interface."""

from __future__ import annotations

import torch


class LearnedWorldModel:
    """Wraps a predictor with ``step``/``rollout``; frozen, optionally in bf16 autocast."""

    differentiable = True

    def __init__(self, predictor: torch.nn.Module, bf16: bool = False) -> None:
        self.predictor = predictor.eval().requires_grad_(False)
        self.bf16 = bf16
        self.action_dim = predictor.action_dim

    def _autocast(self, x: torch.Tensor):
        return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        with self._autocast(state):
            return self.predictor.step(state, action).float()

    def rollout(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if actions.shape[-1] != self.action_dim:
            raise ValueError(f"the world model takes {self.action_dim}-d actions, got "
                             f"{actions.shape[-1]}-d")
        with self._autocast(state):
            return self.predictor.rollout(state, actions).float()
