"""The pretraining model: context encoder, target encoder and predictor, and one loss.

``method``: ``ijepa`` (images, multi-block masks, smooth L1), ``vjepa`` (clips, tubes, L1),
``mae`` (the same masked ViT predicting pixels instead of representations: the
baseline the JEPA papers argue against) or ``lejepa`` (a clip's frames as views that must
agree, through a projector, with SIGReg: ``lejepa.py``). ``objective``: ``ema`` (a momentum
target encoder) or ``vicreg``/``sigreg`` (no EMA: the encoder is its own target, kept from
collapsing by the regulariser; lejepa's is sigreg).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.distributed import gather_batch

from .lejepa import PROJECTOR, Projector, views_loss
from .objectives import (
    METHOD_LOSS,
    check_loss,
    prediction_loss,
    reg_weight_of,
    sigreg,
    vicreg,
)
from .vit import Predictor, VisionTransformer, ViTConfig, gather_tokens

PREDICTOR_PASSES = ("shared", "per_block")


METHODS = ("ijepa", "vjepa", "mae", "lejepa")


def check_lejepa_objective(method: str, objective: str) -> None:
    """Refuse LeJEPA with another objective than SIGReg: it has no target encoder for EMA,
    and its views are kept apart by SIGReg."""
    if method == "lejepa" and objective != "sigreg":
        raise ValueError(f"method=lejepa trains with SIGReg and no target encoder, got "
                         f"objective={objective}: leave objective out (or set objective=sigreg)")


def check_predictor_pass(name: str) -> None:
    """Refuse a predictor pass that is not one of PREDICTOR_PASSES."""
    if name not in PREDICTOR_PASSES:
        raise ValueError(f"predictor_pass must be shared (one pass for every target block) or "
                         f"per_block (one pass per block, the papers'), got {name!r}")


@dataclass
class JEPAConfig:
    """Architecture and objective of a pretraining run."""

    method: str = "ijepa"  # ijepa | vjepa | mae | lejepa
    objective: str = "ema"  # ema | vicreg | sigreg (lejepa: sigreg)
    encoder: ViTConfig = None  # type: ignore[assignment]
    predictor_dim: int = 96
    predictor_depth: int = 4
    predictor_heads: int = 3
    predictor_pass: str = "shared"  # shared | per_block (Predictor)
    loss: str | None = None  # smooth_l1 | l1 | mse; None: the method's own (METHOD_LOSS)
    reg_weight: float | None = None  # None: the objective's own (REG_WEIGHT)
    projector: tuple[int, ...] = PROJECTOR  # lejepa: hidden widths, then the projection's

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        check_lejepa_objective(self.method, self.objective)
        self.reg_weight = reg_weight_of(self.objective, self.reg_weight, self.method)
        check_predictor_pass(self.predictor_pass)
        check_loss(self.loss)
        self.loss = self.loss or METHOD_LOSS[self.method]
        if self.encoder is None:
            self.encoder = ViTConfig()


def check_can_compile(device: torch.device) -> None:
    """Refuse ``compile=true`` on a CPU with no C++ compiler before any step runs: the
    compiler's CPU code is C++, built by $CXX or else, as inductor looks for it, g++
    (clang++ on macOS); torch would fail at the first step."""
    if device.type != "cpu":
        return
    cxx = os.environ.get("CXX", "clang++" if sys.platform == "darwin" else "g++")
    if shutil.which(cxx) is None:
        raise ValueError(f"compile=true on a CPU needs a C++ compiler to build the compiled "
                         f"step, and {cxx!r} ($CXX, or the platform's default when unset) is "
                         "not on the PATH: install one (e.g. apt install g++) or set CXX "
                         "to it, or leave compile=false")


def compile_loss(module: nn.Module, backend: str | Callable = "inductor"
                 ) -> Callable[..., tuple[torch.Tensor, dict]]:
    """``module`` (a JEPA, or one wrapped for DDP) compiled for the step's loss, forward
    and backward: ``jepa pretrain compile=true``. Dynamic shapes, so that one graph serves
    every mask size; and sizes that happen to coincide in a batch (a target block of as many
    tokens as the context) are not taken to be equal, which would compile a second graph
    at the next batch. ``backend``: torch.compile's; with inductor on a CPU, a C++ compiler
    must be there (``check_can_compile``)."""
    if backend == "inductor":
        params = next(module.parameters(), None)
        check_can_compile(params.device if params is not None else torch.device("cpu"))
    compiled = torch.compile(module, dynamic=True, backend=backend)
    try:  # a private setting: a release without it compiles a second graph, nothing worse
        from torch.fx.experimental import _config as shapes
        distinct_sizes = functools.partial(shapes.patch, use_duck_shape=False)
    except (ImportError, AttributeError):
        distinct_sizes = contextlib.nullcontext

    def loss_of(*args: Any) -> tuple[torch.Tensor, dict]:
        with distinct_sizes():
            return compiled(*args)

    return loss_of


class JEPA(nn.Module):
    """Everything pretraining updates; ``encoder`` (EMA target when there is one) is what
    perception uses afterwards."""

    def __init__(self, cfg: JEPAConfig) -> None:
        super().__init__()
        self.cfg = cfg
        enc = cfg.encoder
        self.context_encoder = VisionTransformer(enc)
        patch_pixels = enc.channels * enc.tubelet * enc.patch_size ** 2
        self.predictor, self.projector = None, None
        if cfg.method == "lejepa":
            self.projector = Projector(enc.dim, cfg.projector)
        else:
            self.predictor = Predictor(
                enc.grid, enc.dim, cfg.predictor_dim, cfg.predictor_depth,
                cfg.predictor_heads, out_dim=patch_pixels if cfg.method == "mae" else enc.dim,
                per_block=cfg.predictor_pass == "per_block")
        self.target_encoder = None
        if cfg.objective == "ema" and cfg.method != "mae":
            self.target_encoder = copy.deepcopy(self.context_encoder).requires_grad_(False)

    @property
    def encoder(self) -> VisionTransformer:
        """The encoder perception uses: the EMA target when there is one."""
        return self.target_encoder if self.target_encoder is not None else self.context_encoder

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """EMA: target <- m * target + (1 - m) * context."""
        if self.target_encoder is None:
            return
        tgt = list(self.target_encoder.parameters())
        src = list(self.context_encoder.parameters())
        torch._foreach_lerp_(tgt, src, 1 - momentum)  # one pass over the weights, not two

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels -> per-patch pixel vectors [B, N, P], normalised per patch (MAE
        targets)."""
        x = self.context_encoder.patchify(x)
        mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True)
        return (x - mean) / (var + 1e-6).sqrt()

    def forward(self, pixels: torch.Tensor, context_idx: torch.Tensor | Sequence[torch.Tensor],
                target_idx: torch.Tensor | Sequence[torch.Tensor]
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """pixels [B, C, H, W] or [B, T, C, H, W]; context_idx [B, K] and target_idx
        [B, J, M], or a sequence of each (mask sets: one target pass serves them all; the
        loss is their mean) -> (loss, parts). LeJEPA takes clips [B, V, C, H, W], each frame
        a view, and no masks (``lejepa_loss``)."""
        if self.cfg.method == "lejepa":
            return self.lejepa_loss(pixels)
        contexts = [context_idx] if torch.is_tensor(context_idx) else list(context_idx)
        targets = [target_idx] if torch.is_tensor(target_idx) else list(target_idx)
        if not contexts or len(contexts) != len(targets):
            raise ValueError(f"one target_idx per context_idx: got {len(contexts)} contexts "
                             f"and {len(targets)} target sets")
        B = pixels.shape[0]
        flat = [t.reshape(B, -1) for t in targets]
        # uint8 -> floats once, not in every encoder pass (encoders pass floats through)
        pixels = VisionTransformer.normalise(pixels)
        if self.cfg.method == "mae":
            patches = self._patches(pixels)
            wanted = [gather_tokens(patches, f) for f in flat]
        elif self.target_encoder is not None:
            wanted = self.target_representations(pixels, flat)
        else:
            h = self.context_encoder(pixels)
            normed = F.layer_norm(h, h.shape[-1:])
            wanted = [gather_tokens(normed, f) for f in flat]
        loss = 0.0
        for ctx, tgt, target in zip(contexts, targets, wanted, strict=True):
            z = self.context_encoder(pixels, keep=ctx)
            pred = self.predictor(z, ctx, tgt).reshape(B, target.shape[1], -1)
            loss = loss + prediction_loss(pred.float(), target.float(), self.cfg.loss)
        loss = loss / len(contexts)
        parts = {"prediction": loss.detach()}
        if self.cfg.objective != "ema" and self.cfg.method != "mae":
            # On pooled embeddings, not tokens: tokens could satisfy the regulariser by
            # their positions alone; images must differ by what they show.
            pooled = gather_batch(h.float().mean(1))  # statistics of the global batch
            reg = vicreg(pooled) if self.cfg.objective == "vicreg" else sigreg(pooled)
            parts["regulariser"] = reg.detach()
            loss = loss + self.cfg.reg_weight * reg
        return loss, parts

    def lejepa_loss(self, pixels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """LeJEPA's loss (``views_loss``) over clips [B, V, C, H, W], each frame a view: all
        B x V frames in one encoder pass, average-pooled and projected."""
        if pixels.ndim != 5 or pixels.shape[1] < 2:
            raise ValueError(f"method=lejepa takes clips [batch, views, C, H, W] of at least 2 "
                             f"frames, got {tuple(pixels.shape)}: set frames >= 2")
        B, V = pixels.shape[:2]
        h = self.context_encoder(pixels.flatten(0, 1)).float().mean(1)
        z = self.projector(h).reshape(B, V, -1).transpose(0, 1)
        return views_loss(z, self.cfg.reg_weight)

    def target_representations(self, pixels: torch.Tensor, flat: list[torch.Tensor]
                               ) -> list[torch.Tensor]:
        """The EMA target encoder's layer-normed outputs at each set's target tokens:
        pixels [B, C, H, W] or [B, T, C, H, W] (uint8 or normalised), flat [B, R_s] token
        indices per mask set -> [B, R_s, D] each, constants to autograd."""
        rows = torch.cat(flat, 1)
        # The last block computes the target rows alone (repeats included) when they are
        # fewer than the tokens: the rest of its output would never be read. Compiled, it
        # always does: a branch on the mask's size would be a second graph to compile.
        compiling = torch.compiler.is_compiling()
        few = rows.shape[1] < self.cfg.encoder.num_tokens or compiling
        # the compiler takes no_grad, not inference_mode
        quiet = torch.no_grad() if compiling else torch.inference_mode()
        with quiet:
            h = self.target_encoder(pixels, rows=rows if few else None)
            target = F.layer_norm(h, h.shape[-1:])
            if not few:
                target = gather_tokens(target, rows)
        # leave inference mode: autograd may see them as constants
        return [t.clone() for t in target.split([f.shape[1] for f in flat], 1)]
