"""LeJEPA (Balestriero and LeCun, 2025): views of one sample agree, and SIGReg keeps the
views' projections an isotropic normal across the batch. No target encoder, no predictor.

Each sample gives several views; each view goes through the encoder, is average-pooled and
projected (``Projector``); every projection is pulled to the mean of its sample's views
(the invariance loss) and each view's projections, across the batch, are tested against a
standard normal along random directions (``sigreg``). The loss is (1 - lambda) invariance
+ lambda SIGReg, with LeJEPA's lambda of 0.02 by default.

The paper's views are random crops; on this project's tasks a crop drops or moves the one
small object that differs between frames, and views made of masks or pixel noise trained
poor encoders (docs/benchmarks.md). The views here are a clip's consecutive frames: a
frame's representation should agree with its neighbours' in time, which asks the encoder
for what changes slowly (where things are) and SIGReg asks that it differ between
samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from worldmodel.distributed import gather_batch

from .objectives import LEJEPA_REG_WEIGHT, sigreg

# LeJEPA's example: two hidden layers of 2048, projections of 16 dimensions
PROJECTOR = (2048, 2048, 16)


class BatchNorm(nn.Module):
    """Batch normalisation over the global batch (every process's rows), learned scale
    and shift: N processes train as one, which per-process statistics would not. Used in
    training only (the projector is not part of the encoder perception uses), so it keeps
    no running statistics. x [N, D] -> [N, D]."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        every = gather_batch(x)
        var, mean = torch.var_mean(every, dim=0, unbiased=False)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def check_projector(dims: Sequence[int]) -> None:
    """Refuse a projector that is not a list of positive widths."""
    if len(dims) < 1 or min(dims) < 1:
        raise ValueError(f"projector is a list of positive widths (hidden..., out), got "
                         f"{list(dims)}")


class Projector(nn.Module):
    """LeJEPA's projector: (Linear, BatchNorm, GELU) for each hidden width, then a Linear
    to the last."""

    def __init__(self, in_dim: int, dims: Sequence[int] = PROJECTOR) -> None:
        super().__init__()
        check_projector(dims)
        widths, layers = [in_dim, *dims], []
        for a, b in zip(widths[:-2], widths[1:-1], strict=True):
            # no bias before a batch norm: it would subtract it again
            layers += [nn.Linear(a, b, bias=False), BatchNorm(b), nn.GELU()]
        layers.append(nn.Linear(widths[-2], widths[-1]))
        self.layers = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h [N, in_dim] -> projections [N, dims[-1]]."""
        return self.layers(h)


def views_loss(z: torch.Tensor, weight: float = LEJEPA_REG_WEIGHT
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """z [V, B, K]: V views' projections of B samples -> (invariance + ``weight`` x SIGReg,
    parts). Invariance: each view's squared distance to its sample's mean of views. SIGReg:
    each view's projections over the global batch, averaged over views. ``parts`` also
    holds ``spread``, the projections' std across the batch (averaged over views and
    dimensions; SIGReg asks for 1)."""
    if z.ndim != 3 or z.shape[0] < 2:
        raise ValueError(f"views_loss takes projections [views, batch, dim] of at least 2 "
                         f"views, got {tuple(z.shape)}")
    z = z.float()
    invariance = (z - z.mean(0)).square().mean()
    reg = torch.stack([sigreg(gather_batch(view)) for view in z]).mean()
    parts = {"prediction": invariance.detach(), "regulariser": reg.detach(),
             "spread": z.detach().std(1).mean()}
    return invariance + weight * reg, parts
