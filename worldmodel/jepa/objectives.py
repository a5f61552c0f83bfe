"""JEPA objectives: prediction losses, the collapse-preventing regularisers used without an
EMA target (VICReg, SIGReg), and RankMe, a label-free collapse monitor."""

from __future__ import annotations

import torch
import torch.nn.functional as F

PREDICTION_LOSSES = ("smooth_l1", "l1", "mse")
# Each method's loss as its reference code has it (the I-JEPA paper writes an L2
# distance, its code smooth L1).
METHOD_LOSS = {"ijepa": "smooth_l1", "vjepa": "l1", "mae": "mse"}


def check_loss(loss: str | None) -> None:
    """Refuse a prediction loss other than ``PREDICTION_LOSSES`` or None (the method's)."""
    if loss not in (None, *PREDICTION_LOSSES):
        raise ValueError(f"loss must be one of {', '.join(PREDICTION_LOSSES)} (or null: the "
                         f"method's own), got {loss!r}")


def prediction_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """smooth_l1 (I-JEPA), l1 (V-JEPA) or mse (pixel reconstruction), averaged."""
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred, target)
    if kind == "l1":
        return (pred - target).abs().mean()
    if kind == "mse":
        return F.mse_loss(pred, target)
    raise ValueError(f"unknown prediction loss {kind!r}")


def typical_error(loss: float, kind: str) -> float:
    """The size of a typical |prediction - target| that a ``kind`` loss value implies:
    sqrt(2 loss) for smooth L1 (its quadratic zone, where errors below 1 fall), sqrt(loss)
    for MSE, the loss itself for L1."""
    if kind == "smooth_l1":
        return (2 * loss) ** 0.5
    if kind == "mse":
        return loss ** 0.5
    if kind == "l1":
        return loss
    raise ValueError(f"unknown prediction loss {kind!r}")


def vicreg(z: torch.Tensor, gamma: float = 1.0, cov_weight: float = 1.0) -> torch.Tensor:
    """Variance (std of every dimension at least ``gamma``) + covariance (off-diagonal
    covariance to zero) on embeddings z [N, D]."""
    z = z.float()
    z = z - z.mean(0)
    std = (z.var(0) + 1e-4).sqrt()
    variance = F.relu(gamma - std).mean()
    n, d = z.shape
    cov = (z.T @ z) / max(1, n - 1)
    off = cov - torch.diag(torch.diag(cov))
    return variance + cov_weight * off.pow(2).sum() / d


def sigreg(z: torch.Tensor, slices: int = 256, knots: int = 17,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """SIGReg (LeJEPA): along random directions, the embeddings' 1-D distribution should be
    a standard normal. Epps-Pulley statistic between the empirical characteristic function
    and exp(-t^2/2), on t in [-5, 5] with Gaussian weights, averaged over ``slices``."""
    z = z.float()
    d = z.shape[1]
    u = torch.randn(d, slices, generator=generator, device=z.device)
    u = u / u.norm(dim=0, keepdim=True)
    x = z @ u  # [N, S]
    t = torch.linspace(-5, 5, knots, device=z.device)
    xt = x[..., None] * t  # [N, S, K]
    real, imag = torch.cos(xt).mean(0), torch.sin(xt).mean(0)  # [S, K]
    target = torch.exp(-t.pow(2) / 2)
    err = (real - target).pow(2) + imag.pow(2)
    weight = torch.exp(-t.pow(2) / 2)
    return torch.trapezoid(err * weight, t, dim=-1).mean()


@torch.no_grad()
def rankme(z: torch.Tensor) -> float:
    """Effective rank exp(H(p)), p the normalised singular values of the centred z [N, D].

    Centred: frames of one scene share a large mean embedding that would otherwise count as
    the only direction and hide how many directions the content uses."""
    z = z.float()
    s = torch.linalg.svdvals(z - z.mean(0))
    p = s / s.sum().clamp_min(1e-12) + 1e-12
    return float(torch.exp(-(p * p.log()).sum()))
