"""The identity on the true state: perception for oracle runs and planner tests."""

from __future__ import annotations

import torch


class StatePerception:
    """Reads the environment's true state; ``encode`` is the identity (as float32)."""

    observation_key = "state"

    def __init__(self, state_dim: int) -> None:
        self.latent_dim = state_dim

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """true state [B, S] -> [B, S]."""
        if obs.shape[-1] != self.latent_dim:
            raise ValueError(
                f"state perception expects true states of size {self.latent_dim}, got "
                f"{tuple(obs.shape)}"
            )
        return obs.float()
