"""JEPA objectives: prediction losses, the collapse-preventing regularisers used without an
EMA target (VICReg, SIGReg), and RankMe, a label-free collapse monitor."""

from __future__ import annotations

import torch
import torch.nn.functional as F

PREDICTION_LOSSES = ("smooth_l1", "l1", "mse")
# Each method's loss as its reference code has it (the I-JEPA paper writes an L2
# distance, its code smooth L1).
# LeJEPA's invariance loss (lejepa.py) is a squared distance.
METHOD_LOSS = {"ijepa": "smooth_l1", "vjepa": "l1", "mae": "mse", "lejepa": "mse"}
# Each regulariser's weight against the prediction loss: SIGReg's is LeJEPA's lambda of
# 0.05 (its loss is (1 - lambda) prediction + lambda SIGReg; a ratio of 0.05 / 0.95).
REG_WEIGHT = {"ema": 0.0, "vicreg": 1.0, "sigreg": 0.05 / 0.95}
# LeJEPA's own regime (method=lejepa, lejepa.py) weighs SIGReg against its invariance loss
# with its example's lambda of 0.02.
LEJEPA_REG_WEIGHT = 0.02 / 0.98
# Both regularisers ask the embeddings for a spread of 1 (VICReg: a std of at least 1 in
# every dimension; SIGReg: a standard normal along every direction). Below half of it a run
# warns: the collapsed runs measured ended at 0.13-0.16 (VICReg) and at a point (SIGReg).
SPREAD_WARN = 0.5


def reg_weight_of(objective: str, weight: float | None, method: str = "ijepa") -> float:
    """The regulariser's weight: ``weight``, or when None the objective's own (REG_WEIGHT;
    LeJEPA's for ``method`` lejepa); an objective other than ema, vicreg or sigreg is
    refused."""
    if objective not in REG_WEIGHT:
        raise ValueError(f"objective must be ema, vicreg or sigreg, got {objective!r}")
    if weight is not None:
        return weight
    return LEJEPA_REG_WEIGHT if method == "lejepa" else REG_WEIGHT[objective]


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
    covariance to zero) on embeddings z [N, D], in fp32 even under autocast."""
    with torch.autocast(z.device.type, enabled=False):  # a small product: keep it exact
        z = z.float()
        z = z - z.mean(0)
        std = (z.var(0) + 1e-4).sqrt()
        variance = F.relu(gamma - std).mean()
        n, d = z.shape
        cov = (z.T @ z) / max(1, n - 1)
        off = cov - torch.diag(torch.diag(cov))
        return variance + cov_weight * off.pow(2).sum() / d


def sigreg(z: torch.Tensor, slices: int = 256, knots: int = 17, t_max: float = 3.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """SIGReg (LeJEPA): along random directions, the embeddings' 1-D distribution should be
    a standard normal. z [N, D] -> the Epps-Pulley statistic
    N * int |ecf(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt over t in [-t_max, t_max], averaged over
    ``slices`` random unit directions.

    The N makes it a test statistic: for normal samples its expectation is the same at
    any batch size, so one weight serves every batch (the paper's). The error is even in t,
    so the integral is twice the half line's (trapezoid on ``knots`` points of [0, t_max]).
    In fp32 even under autocast (a few small products)."""
    with torch.autocast(z.device.type, enabled=False):
        z = z.float()
        n, d = z.shape
        u = torch.randn(d, slices, generator=generator, device=z.device)
        u = u / u.norm(dim=0, keepdim=True)
        t = torch.linspace(0, t_max, knots, device=z.device)
        normal = torch.exp(-t.square() / 2)
        step = torch.full_like(t, 2 * t_max / (knots - 1))  # doubled: the half line
        step[[0, -1]] /= 2
        xt = (z @ u).unsqueeze(-1) * t  # [N, S, K]
        err = (xt.cos().mean(0) - normal).square() + xt.sin().mean(0).square()  # [S, K]
        return (n * err @ (step * normal)).mean()


@torch.no_grad()
def rankme(z: torch.Tensor) -> float:
    """Effective rank exp(H(p)), p the normalised singular values of the centred z [N, D].

    Centred: frames of one scene share a large mean embedding that would otherwise count as
    the only direction and hide how many directions the content uses."""
    z = z.float()
    s = torch.linalg.svdvals(z - z.mean(0))
    p = s / s.sum().clamp_min(1e-12) + 1e-12
    return float(torch.exp(-(p * p.log()).sum()))
