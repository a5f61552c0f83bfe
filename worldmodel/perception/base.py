"""Perception: estimate the world state from observations."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Perception(Protocol):
    """``encode(obs) -> state``. ``observation_key`` says which part of the environment's
    observation it reads: ``"pixels"`` (uint8 [B, C, H, W]) or ``"state"`` (true state
    [B, S], for oracle runs)."""

    observation_key: str
    latent_dim: int

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, ...] -> latent state [B, D]."""
        ...
