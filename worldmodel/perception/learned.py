"""Perception from a trained world model's encoder (a `jepa train` checkpoint)."""

from __future__ import annotations

import torch

from .history import still


class EncoderPerception:
    """Frames uint8 -> latents [B, D] with a trained encoder.

    An encoder with a history of k frames (``frames`` = k) reads stacks [B, k*3, H, W]; a
    single frame [B, 3, H, W] (a goal image) is read as a body at rest. The Agent keeps the
    history and passes the stack.
    """

    observation_key = "pixels"

    def __init__(self, encoder: torch.nn.Module, image_size: int,
                 device: str | torch.device = "cpu") -> None:
        self.encoder = encoder.to(device).eval().requires_grad_(False)
        self.latent_dim = encoder.latent_dim
        self.frames = getattr(encoder, "frames", 1)
        self.image_size = image_size
        self.device = torch.device(device)

    @torch.no_grad()
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """obs uint8 [B, 3, H, W] or [B, 3*frames, H, W] -> [B, D]."""
        size = (self.image_size, self.image_size)
        if obs.dim() != 4 or tuple(obs.shape[2:]) != size or \
                obs.shape[1] not in (3, 3 * self.frames):
            raise ValueError(
                f"observations must be uint8 frames [B, 3, {self.image_size}, "
                f"{self.image_size}] (or a history [B, {3 * self.frames}, ...]) for this "
                f"encoder, got {tuple(obs.shape)} {obs.dtype}"
            )
        if obs.shape[1] != 3 * self.frames:
            obs = still(obs, self.frames)
        return self.encoder(obs.to(self.device)).float()
