"""Vision Transformer for images (patches) and clips (tubelets): the JEPA encoder and the
narrow predictor.

Fixed sin-cos positions (2-D for images, 3-D for clips), no CLS token, pre-norm blocks with
``scaled_dot_product_attention``. Masks are index lists applied by gather: the encoder runs
on the kept tokens only, which is where JEPA's saving comes from.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.precision import bf16_native


@dataclass
class ViTConfig:
    """Encoder shape. ``tubelet`` > 1 makes a video encoder over clips of ``frames``."""

    image_size: int = 64
    patch_size: int = 8
    channels: int = 3
    dim: int = 192
    depth: int = 6
    heads: int = 3
    mlp_ratio: float = 4.0
    frames: int = 1
    tubelet: int = 1

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image size {self.image_size} is not divisible by the patch size "
                f"{self.patch_size}; choose a patch size that divides it (e.g. 8 for 64x64)"
            )
        if self.frames % self.tubelet:
            fit = self.tubelet * max(1, self.frames // self.tubelet)
            raise ValueError(f"clip length {self.frames} is not divisible by the tubelet "
                             f"{self.tubelet}: set frames to a multiple of it (e.g. "
                             f"frames={fit}) or tubelet=1 for images")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}: choose "
                             "a head count that divides it")
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}: a ViT needs a block")

    @property
    def grid(self) -> tuple[int, ...]:
        """Token grid: (H/p, W/p) for images, (T/t, H/p, W/p) for clips."""
        side = self.image_size // self.patch_size
        return (side, side) if self.tubelet == 1 else (self.frames // self.tubelet, side, side)

    @property
    def num_tokens(self) -> int:
        return math.prod(self.grid)


PRESETS: dict[str, dict] = {
    "micro": {"dim": 96, "depth": 4, "heads": 3},
    "tiny": {"dim": 192, "depth": 6, "heads": 3},
    "small": {"dim": 384, "depth": 12, "heads": 6},
    "base": {"dim": 768, "depth": 12, "heads": 12},
}


def preset(name: str) -> dict:
    """The encoder shape of preset ``name`` (``PRESETS``); an unknown name is refused with the
    choices."""
    if name not in PRESETS:
        raise ValueError(f"model must be one of {', '.join(PRESETS)}, got {name!r}")
    return PRESETS[name]


def sincos_positions(grid: tuple[int, ...], dim: int) -> torch.Tensor:
    """Fixed sin-cos embedding of a 2-D or 3-D token grid -> [prod(grid), dim].

    Each axis gets an equal share of the channels (the rest padded with zeros)."""
    axes = len(grid)
    per_axis = (dim // axes) // 2 * 2
    coords = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in grid], indexing="ij")
    omega = 1.0 / 10000 ** (torch.arange(per_axis // 2, dtype=torch.float64) / (per_axis / 2))
    parts = []
    for c in coords:
        angles = c.reshape(-1, 1) * omega
        parts += [torch.sin(angles), torch.cos(angles)]
    emb = torch.cat(parts, dim=1)
    return F.pad(emb, (0, dim - emb.shape[1])).float()


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x [B, N, ...], idx [B, K] -> [B, K, ...]."""
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand(
        -1, -1, *x.shape[2:]))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention. q [B, h, Lq, d], k and v [B, h, Lk, d], mask [Lq, Lk]
    boolean (True: may attend) or None -> [B, h, Lq, d]."""
    recorded = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad
                                            or v.requires_grad)
    if q.is_cuda or (not recorded and q.shape[2] >= 32):
        # Without autograd, over many queries (an encoder's pass over a frame's tokens; not
        # a rollout's two new tokens), SDPA's CPU kernel reads q, k and v in place and
        # keeps the scores to itself: 2% off an I-JEPA step in bf16 (its target pass).
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    # On CPU, for the short sequences of small frames (tens of tokens), plain batched matmuls
    # beat SDPA's flash kernel 3-5x forward+backward (measured here). The mask enters as an
    # additive bias that the product accumulates into, with the scale riding on the product:
    # no separate passes over the scores to scale and mask them (2-5% off an I-JEPA step).
    B, h, Lq, d = q.shape
    q, k, v = (t.reshape(B * h, t.shape[2], d) for t in (q, k, v))
    if mask is None:
        scores = torch.bmm(q, k.transpose(1, 2)).mul_(d ** -0.5)
    else:
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device)
        scores = torch.baddbmm(bias.masked_fill_(~mask, float("-inf")), q, k.transpose(1, 2),
                               alpha=d ** -0.5)
    return torch.bmm(scores.softmax(-1), v).view(B, h, Lq, d)


@functools.cache
def _onednn_fused_linear() -> bool:
    """Whether oneDNN's linear with a fused bias and GELU or residual add runs here, checked
    once on a tiny input against the unfused layer: a CPU with native bf16 and a PyTorch
    build that has the operator (a private one, so a release that changes it turns the
    fusion off)."""
    if not bf16_native("cpu"):
        return False
    x = torch.linspace(-3, 3, 32).view(4, 8).bfloat16()
    weight, bias = torch.eye(8).bfloat16(), torch.full((8,), 0.5).bfloat16()
    fused = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    try:
        outs = (fused(x, weight, bias, "gelu", [], "none"),
                fused.binary(x, x, weight, bias, "add"))
    except (RuntimeError, AttributeError, TypeError):  # TypeError: no operator at all
        return False
    wants = (F.gelu(x.float() + 0.5), 2 * x.float() + 0.5)
    return all(out.shape == want.shape and bool(torch.allclose(out.float(), want, atol=0.03))
               for out, want in zip(outs, wants, strict=True))


def linear(layer: nn.Linear, x: torch.Tensor, gelu: bool = False,
           residual: torch.Tensor | None = None) -> torch.Tensor:
    """``layer`` on x [..., in] -> [..., out], then the GELU if ``gelu``, plus ``residual``
    [..., out] if given.

    A bf16 CPU input outside autograd (a target-encoder pass, inference) takes oneDNN's
    linear with the bias, and the GELU or the residual add, fused into the product:
    PyTorch's addmm first copies the bias into the whole output, and the GELU or the add is
    one more pass over it, and on a CPU that multiplies bf16 fast such passes, not the
    products, bound the step (2% off an I-JEPA step, docs/benchmarks.md). The fused
    operator has no backward, so with autograd on, under torch.compile (which cannot trace
    it, and fuses these passes itself), and anywhere else: the layer as it is."""
    if (x.dtype != torch.bfloat16 or x.device.type != "cpu" or torch.is_grad_enabled()
            or torch.compiler.is_compiling() or layer.bias is None
            or (gelu and residual is not None)
            or (residual is not None and residual.dtype != torch.bfloat16)
            or not _onednn_fused_linear()):
        out = layer(x)
        out = F.gelu(out) if gelu else out
        return out if residual is None else residual + out
    weight, bias = layer.weight.to(torch.bfloat16), layer.bias.to(torch.bfloat16)
    fused = torch.ops.mkldnn._linear_pointwise
    if residual is not None:
        return fused.binary(x, residual.contiguous(), weight, bias, "add")
    return fused(x, weight, bias, "gelu" if gelu else "none", [], "none" if gelu else "")


@dataclass(frozen=True)
class TargetBlocks:
    """Token layout of the one-pass predictor: ``context`` tokens, then ``blocks`` target
    blocks of ``size`` mask tokens each. The context attends to the context only, a block's
    mask tokens to the context and to their own block."""

    context: int
    blocks: int
    size: int

    @property
    def targets(self) -> int:
        """The mask tokens' rows: every row from this one on (``Rows``)."""
        return self.context

    def mask(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Boolean attention mask [L, L] (True: may attend), L = context + blocks * size."""
        owner = torch.cat([torch.full((self.context,), -1),
                           torch.arange(self.blocks).repeat_interleave(self.size)]).to(device)
        query, key = owner[:, None], owner[None, :]
        return (key == -1) | (query == key)


# The rows a block computes outputs for: all of them (None), every row from an index on,
# shared by the batch (an int), or each example's own token indices (a [B, R] tensor).
# Every row still gives keys and values; only the rows whose outputs are read are computed
# further. An index, not a slice: torch.compile keeps an int symbolic where it would fix a
# slice's bound, and compile again for every context size.
Rows = int | torch.Tensor | None


def take_rows(x: torch.Tensor, rows: Rows) -> torch.Tensor:
    """x [B, L, ...] -> the ``rows`` of each example [B, R, ...]."""
    if rows is None:
        return x
    if torch.is_tensor(rows):
        return gather_tokens(x, rows)
    return x.narrow(1, rows, x.shape[1] - rows)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                rows: Rows = None, residual: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, L, D], mask [L, L] boolean (True: may attend) or None -> [B, L, D], or the
        outputs of ``rows`` alone [B, R, D]: their queries attend over the keys and values
        of all L tokens. ``residual`` (shaped as the output) is added to it (``linear``)."""
        B, L, D = x.shape
        q, k, v = linear(self.qkv, x).view(B, L, 3, self.heads, D // self.heads).unbind(2)
        if mask is not None and rows is not None:
            if torch.is_tensor(rows):
                raise ValueError("an attention mask is shared by the batch; per-example rows "
                                 "cannot index it: pass the rows as the index they start at")
            mask = mask.narrow(0, rows, L - rows)
        q = take_rows(q, rows)
        out = attend(*(t.transpose(1, 2) for t in (q, k, v)), mask)
        return linear(self.proj, out.transpose(1, 2).reshape(B, q.shape[1], D),
                      residual=residual)

    def extend(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """New tokens x [B, L, D] attending to the cached keys and values of earlier ones
        (``past``: [B, heads, P, D/heads] each, or None) and to each other, unmasked ->
        (output [B, L, D], keys and values now covering P + L tokens)."""
        B, L, D = x.shape
        q, k, v = linear(self.qkv, x).view(B, L, 3, self.heads, D // self.heads
                                           ).permute(2, 0, 3, 1, 4)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        return linear(self.proj, attend(q, k, v).transpose(1, 2).reshape(B, L, D)), (k, v)


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                rows: Rows = None) -> torch.Tensor:
        """x [B, L, D], mask [L, L] as ``Attention`` -> [B, L, D], or ``rows`` only [B, R,
        D]: the other rows still give keys and values, but nothing else of theirs is
        computed."""
        x = self.attn(self.norm1(x), mask, rows, residual=take_rows(x, rows))
        return self.feed_forward(self.norm2(x), residual=x)

    def feed_forward(self, x: torch.Tensor, residual: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """The MLP on x [B, L, D] -> [B, L, D], plus ``residual`` if given (``linear``:
        fused where it can be). ``mlp`` stays a Sequential, GELU included, for its
        parameter names in checkpoints."""
        first, _, second = self.mlp
        return linear(second, linear(first, x, gelu=True), residual=residual)

    @property
    def residual_outputs(self) -> tuple[nn.Linear, nn.Linear]:
        """The two layers whose outputs are added to the residual stream: the attention's
        output projection and the MLP's second layer."""
        return self.attn.proj, self.mlp[-1]

    def extend(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The block on new tokens x [B, L, D] given the cached keys and values of the
        tokens before them (``Attention.extend``) -> (x out, the cache extended by x)."""
        out, past = self.attn.extend(self.norm1(x), past)
        x = x + out
        return self.feed_forward(self.norm2(x), residual=x), past


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def _rescale_residual_outputs(blocks: nn.ModuleList) -> None:
    """Divide each block's ``residual_outputs`` by sqrt(2 * l) for block l = 1, 2, ...:
    the I-JEPA and V-JEPA reference encoders and predictors start this way. What the
    blocks add to the stream's variance at the start then grows like the log of the
    depth, not linearly."""
    with torch.no_grad():
        for layer, block in enumerate(blocks, start=1):
            for linear in block.residual_outputs:
                linear.weight.div_(math.sqrt(2.0 * layer))


class VisionTransformer(nn.Module):
    """ViT encoder. images uint8/float [B, C, H, W] or clips [B, T, C, H, W] -> [B, N, D]."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.tubelet == 1:
            self.patch_embed = nn.Conv2d(cfg.channels, cfg.dim, cfg.patch_size, cfg.patch_size)
        else:
            k = (cfg.tubelet, cfg.patch_size, cfg.patch_size)
            self.patch_embed = nn.Conv3d(cfg.channels, cfg.dim, k, k)
        self.register_buffer("pos_embed", sincos_positions(cfg.grid, cfg.dim), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio)
                                    for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.apply(_init_weights)
        _rescale_residual_outputs(self.blocks)

    def _check(self, x: torch.Tensor) -> None:
        cfg = self.cfg
        if cfg.tubelet == 1:
            want = (cfg.channels, cfg.image_size, cfg.image_size)
            if x.dim() != 4 or tuple(x.shape[1:]) != want:
                raise ValueError(f"expected images [B, {want[0]}, {want[1]}, {want[2]}], got "
                                 f"{tuple(x.shape)}")
        else:
            if x.dim() != 5 or x.shape[1] < cfg.tubelet:
                raise ValueError(
                    f"expected clips [B, T, C, H, W] with T >= tubelet {cfg.tubelet}, got "
                    f"{tuple(x.shape)}"
                )
            want = (cfg.frames, cfg.channels, cfg.image_size, cfg.image_size)
            if tuple(x.shape[1:]) != want:
                raise ValueError(f"expected clips [B, {', '.join(map(str, want))}], got "
                                 f"{tuple(x.shape)}")

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        """uint8 pixels -> roughly zero-mean unit-variance floats (floats pass through)."""
        if x.dtype == torch.uint8:
            return (x.float() / 255.0 - 0.5) / 0.25
        return x

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] or clips [B, T, C, H, W] -> one pixel vector per token
        [B, N, C * tubelet * p * p], ordered as the patch embedding's weight."""
        p, t = self.cfg.patch_size, self.cfg.tubelet
        if t == 1:
            x = x.unsqueeze(1)  # an image is a clip of one frame
        B, T, C, H, W = x.shape
        x = x.reshape(B, T // t, t, C, H // p, p, W // p, p).permute(0, 1, 4, 6, 3, 2, 5, 7)
        return x.reshape(B, -1, C * t * p * p)

    def embed(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Pixels -> position-embedded tokens [B, N, D], or the ``keep`` tokens alone
        [B, K, D]: only their patches are embedded, which spares a context encoder the
        product and the weight gradient of the patches it never sees."""
        self._check(x)
        x = self.normalise(x)
        if keep is not None:
            patches = gather_tokens(self.patchify(x), keep)
            tokens = F.linear(patches, self.patch_embed.weight.flatten(1), self.patch_embed.bias)
            return tokens + self.pos_embed.to(tokens.dtype)[keep]
        if self.cfg.tubelet > 1:
            x = x.transpose(1, 2)  # [B, C, T, H, W] for the 3-D convolution
        # contiguous: the transposed view would carry a channels-first layout through every
        # residual add and make each layer norm and matmul copy its input first
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2).contiguous()
        return tokens + self.pos_embed.to(tokens.dtype)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None,
                rows: torch.Tensor | None = None) -> torch.Tensor:
        """x: images or clips; keep [B, K] token indices (None: all) -> [B, K, D]; or with
        ``rows`` [B, R] (indices into the kept tokens) their outputs alone [B, R, D]: the
        last block computes those rows only, the same values at less cost."""
        tokens = self.embed(x, keep)
        for block in self.blocks[:-1]:
            tokens = block(tokens)
        return self.norm(self.blocks[-1](tokens, rows=rows))

    def tokens_fp32(self, x: torch.Tensor) -> torch.Tensor:
        """Every token [B, N, D] of images or clips, in fp32 even under autocast: a small
        object is a sliver of the scene, and bf16 rounding drowns it."""
        with torch.autocast(x.device.type, enabled=False):
            return self(x).float()

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Average-pooled features [B, D] of images or clips, in fp32 (``tokens_fp32``: the
        linear probe of the Two Rooms agent's position fell from R^2 0.92 to 0.48 under
        bf16, measured)."""
        return self.tokens_fp32(x).mean(1)

    def pooled_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """Average-pooled features after every block [B, depth, D], in fp32: where in the
        encoder a probe finds the state. Each block's tokens are layer-normed before the
        pooling, as the encoder's own norm does to the last block's (the last entry is
        ``pooled``)."""
        with torch.autocast(x.device.type, enabled=False):
            tokens, out = self.embed(x, None), []
            for block in self.blocks[:-1]:
                tokens = block(tokens)
                out.append(F.layer_norm(tokens, tokens.shape[-1:]).mean(1))
            out.append(self.norm(self.blocks[-1](tokens)).mean(1))
        return torch.stack(out, 1).float()


class Predictor(nn.Module):
    """Narrow ViT: context tokens + a learned mask token at each target position -> the
    target representations.

    ``per_block`` (the papers' predictor): each target block is predicted in a pass of its
    own over a copy of the context and that block's mask tokens, all attending to all. With
    one block (V-JEPA's tubes) that is the only pass.

    Otherwise (``shared``, cheaper with several blocks) every block is predicted in one pass
    over one copy of the context (``TargetBlocks``): each block's mask tokens see the
    context and their own block, and the context sees the context only, since it is shared
    by the blocks. So a block's prediction does not depend on the other blocks, but differs
    from its own pass's in that the context never attends to the mask tokens (measured on
    trained I-JEPA predictors: 5e-7 to 1e-5 relative; docs/benchmarks.md). In both, only the mask
    tokens' outputs are read, so the last block computes nothing else.
    """

    def __init__(self, grid: tuple[int, ...], in_dim: int, dim: int = 96, depth: int = 4,
                 heads: int = 3, out_dim: int | None = None, per_block: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"predictor width {dim} is not divisible by its {heads} heads")
        if depth < 1:
            raise ValueError(f"predictor depth must be at least 1, got {depth}")
        self.per_block = per_block
        self.embed = nn.Linear(in_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", sincos_positions(grid, dim), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, out_dim or in_dim)
        self.apply(_init_weights)
        _rescale_residual_outputs(self.blocks)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, context: torch.Tensor, context_idx: torch.Tensor,
                target_idx: torch.Tensor) -> torch.Tensor:
        """context [B, K, Din], context_idx [B, K], target_idx [B, J, M] -> [B, J, M, Dout]."""
        B, J, M = target_idx.shape
        K = context.shape[1]
        pos = self.pos_embed.to(context.dtype)
        x = self.embed(context) + pos[context_idx]
        if self.per_block:  # block-major copies: [J * B, K + M, d]
            x = x.repeat(J, 1, 1) if J > 1 else x
            targets = target_idx.transpose(0, 1).reshape(J * B, M)
            mask, rows = None, K
        else:  # [B, K + J * M, d]
            targets = target_idx.reshape(B, J * M)
            layout = TargetBlocks(K, J, M)
            mask, rows = layout.mask(x.device), layout.targets  # once for every block
        x = torch.cat([x, self.mask_token.to(x.dtype) + pos[targets]], dim=1)
        for block in self.blocks[:-1]:
            x = block(x, mask)
        x = self.head(self.norm(self.blocks[-1](x, mask, rows)))
        if self.per_block:
            return x.view(J, B, M, -1).transpose(0, 1)
        return x.reshape(B, J, M, -1)
