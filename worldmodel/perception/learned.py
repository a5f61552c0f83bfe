"""Perception from a trained world model's encoder (a `jepa train` checkpoint)."""

from __future__ import annotations

import torch


class EncoderPerception:
    """Frames uint8 [B, C, H, W] -> latents [B, D] with a trained encoder."""

    observation_key = "pixels"

    def __init__(self, encoder: torch.nn.Module, image_size: int,
                 device: str | torch.device = "cpu") -> None:
        self.encoder = encoder.to(device).eval().requires_grad_(False)
        self.latent_dim = encoder.latent_dim
        self.image_size = image_size
        self.device = torch.device(device)

    @torch.no_grad()
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        if obs.dim() != 4 or tuple(obs.shape[1:]) != (3, self.image_size, self.image_size):
            raise ValueError(
                f"observations must be uint8 frames [B, 3, {self.image_size}, "
                f"{self.image_size}] for this encoder, got {tuple(obs.shape)} {obs.dtype}"
            )
        return self.encoder(obs.to(self.device)).float()
