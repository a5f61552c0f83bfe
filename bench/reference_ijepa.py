"""The I-JEPA reference implementation's training step, ported to a CPU: the peer of the
step bench (``pretrain_speed.py``).

Nothing can be downloaded here, so the reference's step is rebuilt from what its code does
(facebookresearch/ijepa, ``src/models/vision_transformer.py`` and ``src/train.py``), with
the same parameter names, so that its weights load into this project's modules through the
official-checkpoint key map (``worldmodel.jepa.official``) and both steps start equal:

- The encoder embeds every patch (``flatten(2).transpose(1, 2)`` of the convolution, a
  channels-first view), adds the position table, a frozen fp32 parameter, then gathers the
  kept tokens (``apply_masks``). Under bf16 autocast that fp32 addition makes the residual
  stream fp32: every residual add and layer norm works on fp32, and each linear layer casts
  its input to bf16 first.
- Attention: the scores ``(q @ k^T) * scale`` as their own pass, softmax, ``@ v``; no
  attention mask. Dropouts and drop-path at rate 0, as the paper's runs have them.
- The predictor maps the context to its width, adds the context's positions in place, and
  runs once per target block on a copy of the context (``x.repeat(len(masks), 1, 1)``)
  followed by that block's mask tokens (fp32: a mask token plus its position), full
  attention within each copy.
- The target: the target encoder over every token, all of its last block, then
  ``F.layer_norm`` and a gather per target block; smooth L1.
- AdamW with the reference's two groups (no weight decay on biases and 1-D tensors),
  PyTorch's default implementation for CPU tensors (a loop over parameters); the EMA as a
  loop of ``mul_`` and ``add_`` over parameter pairs.

Left out, as a CPU port would leave them: the CUDA ``GradScaler`` (bf16 needs no loss
scaling) and the per-step gradient statistics the reference logs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.jepa.model import JEPA
from worldmodel.jepa.official import import_state
from worldmodel.jepa.vit import ViTConfig, sincos_positions


def apply_masks(x: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """x [B, N, D], masks a list of [B, K] index tensors -> [len(masks) * B, K, D],
    mask-major (the reference's layout)."""
    return torch.cat([x.gather(1, m[..., None].expand(-1, -1, x.shape[-1])) for m in masks])


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.num_heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.attn_drop, self.proj_drop = nn.Dropout(0.0), nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, N, D] -> [B, N, D]."""
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, D // self.num_heads
                                      ).permute(2, 0, 3, 1, 4)
        attn = self.attn_drop(((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(B, N, D)))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
        self.drop = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, N, D] -> [B, N, D]."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn, self.mlp = Attention(dim, heads), MLP(dim, int(dim * mlp_ratio))
        self.drop_path = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-norm block: x [B, N, D] -> [B, N, D]."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cfg.channels, cfg.dim, cfg.patch_size, cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] -> tokens [B, N, D], a transposed (channels-first) view."""
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """The reference encoder: normalised images [B, C, H, W] -> [B, N, D], or the tokens
    of each mask [len(masks) * B, K, D]."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg)
        self.pos_embed = nn.Parameter(sincos_positions(cfg.grid, cfg.dim)[None],
                                      requires_grad=False)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio)
                                    for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None
                ) -> torch.Tensor:
        x = self.patch_embed(x) + self.pos_embed
        if masks is not None:
            x = apply_masks(x, masks)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class VisionTransformerPredictor(nn.Module):
    """The reference predictor: context [B, K, D], its indices and J target masks [B, M]
    -> predictions [J * B, M, D], one pass per target block on a copy of the context."""

    def __init__(self, grid: tuple[int, ...], in_dim: int, dim: int, depth: int,
                 heads: int) -> None:
        super().__init__()
        self.predictor_embed = nn.Linear(in_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.predictor_pos_embed = nn.Parameter(sincos_positions(grid, dim)[None],
                                                requires_grad=False)
        self.predictor_blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.predictor_norm = nn.LayerNorm(dim, eps=1e-6)
        self.predictor_proj = nn.Linear(dim, in_dim)

    def forward(self, x: torch.Tensor, masks_x: list[torch.Tensor],
                masks: list[torch.Tensor]) -> torch.Tensor:
        B = len(x) // len(masks_x)
        x = self.predictor_embed(x)
        x += apply_masks(self.predictor_pos_embed.repeat(B, 1, 1), masks_x)
        n_context = x.shape[1]
        pos = apply_masks(self.predictor_pos_embed.repeat(B, 1, 1), masks)
        tokens = self.mask_token.repeat(pos.shape[0], pos.shape[1], 1)
        tokens += pos
        x = torch.cat([x.repeat(len(masks), 1, 1), tokens], dim=1)
        for block in self.predictor_blocks:
            x = block(x)
        return self.predictor_proj(self.predictor_norm(x)[:, n_context:])


class ReferenceIJEPA(nn.Module):
    """Context encoder, EMA target encoder and predictor as the reference builds them."""

    def __init__(self, cfg: ViTConfig, predictor_dim: int = 96, predictor_depth: int = 4,
                 predictor_heads: int = 3) -> None:
        super().__init__()
        self.encoder = VisionTransformer(cfg)
        self.target_encoder = VisionTransformer(cfg).requires_grad_(False)
        self.predictor = VisionTransformerPredictor(cfg.grid, cfg.dim, predictor_dim,
                                                    predictor_depth, predictor_heads)

    def load_into(self, jepa: JEPA) -> None:
        """Give ``jepa`` these weights, through the official-checkpoint key map (which
        refuses any key it cannot place)."""
        with torch.no_grad():
            import_state(jepa.context_encoder, self.encoder.state_dict())
            import_state(jepa.target_encoder, self.target_encoder.state_dict())
            import_state(jepa.predictor, self.predictor.state_dict())

    def loss(self, images: torch.Tensor, context_idx: torch.Tensor,
             target_idx: torch.Tensor) -> torch.Tensor:
        """The reference's forward: normalised images [B, C, H, W], context_idx [B, K],
        target_idx [B, J, M] -> the smooth-L1 loss."""
        masks_enc, masks_pred = [context_idx], list(target_idx.unbind(1))
        with torch.no_grad():
            h = self.target_encoder(images)
            h = apply_masks(F.layer_norm(h, (h.shape[-1],)), masks_pred)
        z = self.predictor(self.encoder(images, masks_enc), masks_enc, masks_pred)
        return F.smooth_l1_loss(z, h)

    def optimizer(self, lr: float = 1e-4) -> torch.optim.AdamW:
        """AdamW with the reference's groups: weight decay except on biases and 1-D
        tensors; the default (per-parameter) implementation for CPU tensors."""
        named = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        decay = [p for n, p in named if "bias" not in n and p.ndim != 1]
        no_decay = [p for n, p in named if "bias" in n or p.ndim == 1]
        return torch.optim.AdamW([{"params": decay},
                                  {"params": no_decay, "weight_decay": 0.0}], lr=lr)

    def update_target(self, m: float) -> None:
        """EMA with momentum ``m`` (``ema_per_parameter``)."""
        ema_per_parameter(self.target_encoder, self.encoder, m)


@torch.no_grad()
def ema_per_parameter(target: nn.Module, source: nn.Module, m: float) -> None:
    """The reference's EMA: target <- m * target + (1 - m) * source, one parameter pair at
    a time."""
    for param_q, param_k in zip(source.parameters(), target.parameters(), strict=True):
        param_k.data.mul_(m).add_((1.0 - m) * param_q.detach().data)


def init_as_reference(model: ReferenceIJEPA, std: float = 0.02) -> None:
    """The reference's initialisation: truncated normal weights, zero biases, unit norms,
    residual outputs divided by sqrt(2 * layer); the target a copy of the encoder."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(module.weight, std=std)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    nn.init.trunc_normal_(model.predictor.mask_token, std=std)
    with torch.no_grad():
        for blocks in (model.encoder.blocks, model.predictor.predictor_blocks):
            for layer, block in enumerate(blocks, start=1):
                block.attn.proj.weight.div_(math.sqrt(2.0 * layer))
                block.mlp.fc2.weight.div_(math.sqrt(2.0 * layer))
    model.target_encoder.load_state_dict(model.encoder.state_dict())
