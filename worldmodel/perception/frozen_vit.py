"""A pretrained ViT as the frozen encoder of `jepa train`'s frozen recipe (V-JEPA 2-AC
style): its tokens pooled (the mean, or keypoints of what moves) and standardised."""

from __future__ import annotations

import torch
from torch import nn

KEYPOINT_POWERS = (1, 2, 4)  # of a patch's departure from the scene, for its weight


class FrozenPooledEncoder(nn.Module):
    """A pretrained ViT, frozen, pooled and standardised: frames [B, 3, H, W] -> [B, D'].
    A video (V-JEPA) encoder of T-frame clips reads a frame history of T frames
    [B, T*3, H, W].

    ``pooling="mean"``: the average of the patch tokens, D' = D. ``pooling="keypoints"``
    (image encoders): a spatial centre of mass of where the frame departs from the static
    scene. Each patch token less its position's mean over training frames (``fit_scene``)
    gives a residual norm per patch; its excess over the frame's median norm, raised to
    each of ``KEYPOINT_POWERS`` and normalised, weighs the patch grid's coordinates, and
    the weighted mean (x, y) and second moments (x^2, y^2, xy) are the state, D' = 5 per
    power (the low powers interpolate between the patches an object straddles, the high
    ones find its main patch). A small object that moves sub-patch distances changes the
    mean-pooled features like a hash (latent step ratio 1.2 on Two Rooms); its keypoints
    move smoothly (0.13). It presumes a static scene with a few moving things, as the
    tasks here are.

    Standardised per dimension with the training frames' statistics (``fit``): on a scene
    that barely changes, the pooled features move by about 1e-3 while their mean is of
    order 1, and an L1 loss or a planning cost on the raw features sees almost nothing of
    what moves."""

    def __init__(self, vit: nn.Module, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in ("mean", "keypoints"):
            raise ValueError(f"pooling must be mean or keypoints, got {pooling!r}")
        self.vit = vit.requires_grad_(False).eval()
        self.pooling = pooling
        self.image_size = vit.cfg.image_size
        self.frames = vit.cfg.frames if vit.cfg.tubelet > 1 else 1
        self.latent_dim = vit.cfg.dim
        if pooling == "keypoints":
            if len(vit.cfg.grid) != 2:
                raise ValueError("pooling=keypoints reads an image encoder's 2-D patch grid; "
                                 "use pooling=mean for a clip (V-JEPA) encoder")
            rows, cols = vit.cfg.grid
            y, x = torch.meshgrid(torch.linspace(0, 1, rows), torch.linspace(0, 1, cols),
                                  indexing="ij")
            x, y = x.flatten(), y.flatten()
            self.register_buffer("moments", torch.stack([x, y, x * x, y * y, x * y], -1))
            self.register_buffer("scene", torch.zeros(rows * cols, vit.cfg.dim))
            self.latent_dim = 5 * len(KEYPOINT_POWERS)
        self.register_buffer("mean", torch.zeros(self.latent_dim))
        self.register_buffer("std", torch.ones(self.latent_dim))

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        if self.frames > 1:  # the stacked history is the clip
            x = x.reshape(x.shape[0], self.frames, -1, *x.shape[-2:])
        return self.vit.tokens_fp32(x)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self._tokens(x)
        if self.pooling == "mean":
            return self.scale(tokens.mean(1))
        residual = (tokens - self.scene).norm(dim=-1)  # [B, N]
        excess = (residual - residual.median(-1, keepdim=True).values).clamp_min(0)
        weights = [excess ** p for p in KEYPOINT_POWERS]
        return self.scale(torch.cat([w / w.sum(-1, keepdim=True).clamp_min(1e-12)
                                     @ self.moments for w in weights], -1))

    @torch.no_grad()
    def fit_scene(self, frames: torch.Tensor, batch: int = 256) -> None:
        """Keypoints: the static scene, each patch's mean token over training frames
        [M, 3, H, W] (a few thousand suffice: a small object rarely covers any one patch)."""
        total = torch.zeros_like(self.scene)
        for i in range(0, len(frames), batch):
            total += self._tokens(frames[i:i + batch].to(self.scene.device)).sum(0)
        self.scene.copy_(total / len(frames))

    def scale(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw pooled features [..., D'] -> standardised."""
        return (raw - self.mean.to(raw.device)) / self.std.to(raw.device)

    @torch.no_grad()
    def fit(self, raw: torch.Tensor) -> None:
        """Take the per-dimension statistics of raw pooled features [..., D']."""
        flat = raw.reshape(-1, raw.shape[-1])
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp_min(1e-6))

    @torch.no_grad()
    def reset(self) -> None:
        """Identity statistics: the encoder returns raw pooled features until ``fit``."""
        self.mean.zero_()
        self.std.fill_(1.0)
