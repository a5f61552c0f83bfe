"""Random resized crops: the one augmentation of the I-JEPA, V-JEPA and MAE recipes.

Each sample gets a box covering a random fraction of the frame's area (``scale``) with a
random aspect ratio (``ratio``, drawn on a log scale), resampled bilinearly to the full
frame; a clip's frames share their sample's box, as in V-JEPA. Like the masks, the boxes of
a step are drawn for the whole global batch from a generator seeded by the step, so a
resumed run and any number of processes see the same crops.

On Two Rooms they collapse the representation: after 5 CPU-minutes the linear probe of the
agent's position fell from 0.988 to 0.30 with boxes of 0.8-1.0 of the area and to 0.05
with 0.3-1.0 (docs/benchmarks.md), so ``jepa pretrain`` leaves them off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .masks import step_generator

# The generator stream of the crops: above any mask set's (0, 1, ...)
STREAM = 1 << 10
# torchvision's RandomResizedCrop draws this often before falling back to the whole frame
ATTEMPTS = 10


@dataclass(frozen=True)
class RandomResizedCrops:
    """Boxes of ``scale`` (fractions of the frame's area) and ``ratio`` (width / height)."""

    scale: tuple[float, float] = (0.3, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("scale", "ratio"):
            if len(getattr(self, name)) != 2:
                raise ValueError(f"crop {name} is a [low, high] pair, got "
                                 f"{list(getattr(self, name))}")
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop scale is a [low, high] fraction of the frame's area with "
                             f"0 < low <= high <= 1, got {list(self.scale)}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"crop ratio is a [low, high] width / height with 0 < low <= "
                             f"high, got {list(self.ratio)}")

    def boxes(self, batch: int, step: int, height: int, width: int) -> torch.Tensor:
        """The boxes of ``batch`` samples at ``step`` -> [B, 4]: centre x, centre y, width,
        height, each a fraction of the frame (a box always lies inside it)."""
        gen = step_generator(self.seed, step, STREAM)
        area = torch.empty(batch, ATTEMPTS).uniform_(*self.scale, generator=gen)
        log_ratio = torch.empty(batch, ATTEMPTS).uniform_(
            math.log(self.ratio[0]), math.log(self.ratio[1]), generator=gen)
        # as fractions of each side: w * W * h * H = area * H * W, w * W / (h * H) = ratio
        w = (area * log_ratio.exp() * height / width).sqrt()
        h = (area / log_ratio.exp() * width / height).sqrt()
        fits = (w <= 1) & (h <= 1)
        first = fits.float().argmax(1, keepdim=True)  # the first attempt that fits
        found = fits.any(1)
        w = torch.where(found, w.gather(1, first)[:, 0], 1.0)
        h = torch.where(found, h.gather(1, first)[:, 0], 1.0)
        at = torch.rand(batch, 2, generator=gen)
        return torch.stack([w / 2 + at[:, 0] * (1 - w), h / 2 + at[:, 1] * (1 - h), w, h], 1)

    def __call__(self, pixels: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """pixels [B, C, H, W] or clips [B, T, C, H, W] (uint8 or float), boxes [B, 4] ->
        each sample's box resampled to the full frame, same shape and dtype."""
        shape = pixels.shape
        frames = pixels.reshape(shape[0], -1, *shape[-2:])  # a clip's frames share a box
        # the frame spans -1 to 1 in the sampling grid's coordinates: a box of width w
        # (a fraction of the frame) spans w on either side of its centre there
        cx, cy, w, h = boxes.unbind(1)
        theta = torch.zeros(shape[0], 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = w, 2 * cx - 1
        theta[:, 1, 1], theta[:, 1, 2] = h, 2 * cy - 1
        grid = F.affine_grid(theta.to(pixels.device), list(frames.shape), align_corners=False)
        out = F.grid_sample(frames.float(), grid, mode="bilinear", padding_mode="border",
                            align_corners=False)
        if pixels.dtype == torch.uint8:
            out = out.round_().clamp_(0, 255)
        return out.to(pixels.dtype).reshape(shape)
