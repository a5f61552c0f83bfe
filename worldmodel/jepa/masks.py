"""Mask collators: I-JEPA multi-block masks on the 2-D patch grid, V-JEPA tubes on the
3-D (time, height, width) grid. Masks are index lists, applied by gather.

A collator runs in the data-loader workers. It draws the masks (and any crops) of the
whole global batch from a generator seeded by the training step and keeps this process's
share, so one or several processes see the same masks for the same samples. It can draw
several mask sets per sample (``sets``): each is a context and its targets, and all of them
share the one target-encoder pass over the sample (V-JEPA's recipe; data2vec 2.0's
multi-mask).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from tensordict import TensorDict

if TYPE_CHECKING:  # crops.py draws from this file's step_generator
    from .crops import RandomResizedCrops


def step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    """The generator of one random draw of one step (``stream``: a mask set, or the crops
    of ``crops.py``): the same on every process. The CPU generator keeps a seed's low 32
    bits only, so the streams differ there."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step + stream * (2**31 - 1))


def _block_size(gen: torch.Generator, grid_hw: tuple[int, int], scale: tuple[float, float],
                aspect: tuple[float, float]) -> tuple[int, int]:
    H, W = grid_hw
    s = scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=gen).item()
    la, lb = math.log(aspect[0]), math.log(aspect[1])
    a = math.exp(la + (lb - la) * torch.rand(1, generator=gen).item())
    h = max(1, min(H, round(math.sqrt(s * H * W * a))))
    w = max(1, min(W, round(math.sqrt(s * H * W / a))))
    return h, w


def _blocks(gen: torch.Generator, grid_hw: tuple[int, int], size: tuple[int, int],
            shape: tuple[int, ...]) -> torch.Tensor:
    """Boolean [*shape, H, W]: in each, one block of ``size`` at a random place."""
    (H, W), (h, w) = grid_hw, size
    top = torch.randint(0, H - h + 1, (*shape, 1), generator=gen)
    left = torch.randint(0, W - w + 1, (*shape, 1), generator=gen)
    rows, cols = torch.arange(H), torch.arange(W)
    in_rows = (rows >= top) & (rows < top + h)  # [*shape, H]
    in_cols = (cols >= left) & (cols < left + w)  # [*shape, W]
    return in_rows[..., :, None] & in_cols[..., None, :]


def _subset(chosen: torch.Tensor, gen: torch.Generator, multiple: int = 1,
            at_most: int | None = None) -> torch.Tensor:
    """Boolean rows [B, N] -> the indices of a random k of each row's True entries, sorted
    [B, k]; k is the fewest any row has (at most ``at_most``), rounded down to
    ``multiple`` (few distinct shapes let the CPU kernels reuse their plans instead of
    re-planning for every new shape)."""
    k = int(chosen.sum(1).min())
    if at_most is not None:
        k = min(k, at_most)
    k = max(1, k // multiple * multiple) if k >= multiple else k
    # the k smallest random keys among the chosen entries (the others keyed above all)
    keys = torch.rand(chosen.shape, generator=gen).masked_fill_(~chosen, 2.0)
    return keys.topk(k, dim=1, largest=False).indices.sort(1).values


@dataclass
class MultiBlockMasks:
    """I-JEPA: ``targets`` blocks (scale, aspect) and one context block with the targets
    removed. Returns context_idx [B, K] and target_idx [B, targets, M].

    ``fixed_shapes``: every step uses the largest target blocks of the scale range (mid
    aspect) and a context block of mid scale, and K is the fewest context tokens any sample
    can then have (the context block minus disjoint targets), so tensor shapes never change
    between steps. On an 8x8 grid that is K = 16 context and 4 x 12 target tokens, where
    the paper's sampler mostly gives 16-20 and 4 x 12. Blocks still move, and each sample
    keeps a random K of its context tokens. On a CPU this spares oneDNN from re-planning
    its kernels for each new shape.
    """

    grid: tuple[int, int] = (8, 8)
    targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    context_scale: tuple[float, float] = (0.85, 1.0)
    min_context: int = 4
    fixed_shapes: bool = False
    seed: int = 0

    @staticmethod
    def _middle(scale: tuple[float, float], aspect: tuple[float, float]
                ) -> tuple[tuple[float, float], tuple[float, float]]:
        return (sum(scale) / 2,) * 2, (math.sqrt(aspect[0] * aspect[1]),) * 2

    def sample(self, batch: int, step: int, stream: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The masks of ``batch`` samples at ``step``; another ``stream`` draws another
        independent set -> (context_idx [B, K], target_idx [B, targets, M])."""
        gen = step_generator(self.seed, step, stream)
        t_range = (self.target_scale, self.target_aspect)
        c_range = (self.context_scale, (1.0, 1.0))
        if self.fixed_shapes:
            top = self.target_scale[1]
            t_range = self._middle((top, top), self.target_aspect)
            c_range = self._middle(*c_range)
        t_size = _block_size(gen, self.grid, *t_range)
        c_size = _block_size(gen, self.grid, *c_range)
        blocks = _blocks(gen, self.grid, t_size, (batch, self.targets))  # [B, J, H, W]
        context = _blocks(gen, self.grid, c_size, (batch,)) & ~blocks.any(1)
        for _attempt in range(19):  # up to 20 draws in all, again where too little context is left
            short = (context.flatten(1).sum(1) < self.min_context).nonzero().squeeze(1)
            if not len(short):
                break
            blocks[short] = _blocks(gen, self.grid, t_size, (len(short), self.targets))
            context[short] = (_blocks(gen, self.grid, c_size, (len(short),))
                              & ~blocks[short].any(1))
        else:  # keep what is left outside the targets
            short = context.flatten(1).sum(1) < self.min_context
            context[short] = ~blocks[short].any(1)
        # every block has h * w cells, listed in order
        targets = blocks.flatten(2).nonzero()[:, 2].view(batch, self.targets, -1)
        at_most = None
        if self.fixed_shapes:
            fewest = c_size[0] * c_size[1] - self.targets * t_size[0] * t_size[1]
            at_most = max(self.min_context, fewest // 4 * 4)
        return _subset(context.flatten(1), gen, multiple=4, at_most=at_most), targets


@dataclass
class TubeMasks:
    """V-JEPA: spatial blocks repeated over the whole clip; the target is their union.
    Short-range (many small blocks) and long-range (few large) masks take turns: by step,
    and by set within a step, so two sets a step give one of each, as V-JEPA trains.
    Returns context_idx [B, K] and target_idx [B, 1, M].

    ``context_time``: the fraction of the clip's time steps the context may span (V-JEPA's
    ``max_temporal_keep``, its "causal multi-block" masks). At 1 the tubes run through the
    clip; below it the blocks' tubes stop there and every later token is a target, so the
    predictor foresees the clip's end from its start. (Where the only thing that moves is
    small, a tube hides it in every frame and leaves nothing to infer it from.)

    ``context_tubes`` False (with ``context_time`` below 1): no tubes at all, the context
    is the whole of the clip's start and the target the whole of its end, the same for
    every clip and step: the end forecast from everything before it. Where the agent is a
    sliver of the scene, this is what makes it worth encoding: a tube hides it from the
    context most of the time (docs/benchmarks.md).
    """

    grid: tuple[int, int, int] = (4, 8, 8)
    short_blocks: int = 8
    short_scale: float = 0.15
    long_blocks: int = 2
    long_scale: float = 0.7
    aspect: tuple[float, float] = (0.75, 1.5)
    min_context: int = 4
    context_time: float = 1.0
    context_tubes: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.context_time <= 1:
            raise ValueError(f"context_time is the fraction of the clip's time steps the "
                             f"context may span, in (0, 1]; got {self.context_time}")
        if not self.context_tubes and self.context_time == 1:
            raise ValueError("context_tubes=false leaves the targets only the time after the "
                             "context, but context_time=1 spans the whole clip: set "
                             "context_time below 1 (e.g. 0.5) or leave context_tubes true")
        if self.context_time < 1 and self.grid[0] < 2:
            raise ValueError(f"context_time={self.context_time} splits a clip in time, but its "
                             f"grid {tuple(self.grid)} has one time step: use clips of at least "
                             "two tubelets (frames >= 2 * tubelet) or context_time=1")

    @property
    def context_steps(self) -> int:
        """Time steps (tubelets) the context spans: at least one."""
        return max(1, int(self.grid[0] * self.context_time))

    def sample(self, batch: int, step: int, stream: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The tubes of ``batch`` clips at ``step``; ``stream`` draws another set (of the
        other range) -> (context_idx [B, K], target_idx [B, 1, M])."""
        T, H, W = self.grid
        Tc = self.context_steps
        if not self.context_tubes:  # nothing to draw
            cut = Tc * H * W
            return (torch.arange(cut).expand(batch, -1).contiguous(),
                    torch.arange(cut, T * H * W).expand(batch, 1, -1).contiguous())
        gen = step_generator(self.seed, step, stream)
        blocks, scale = ((self.short_blocks, self.short_scale) if (step + stream) % 2 == 0
                         else (self.long_blocks, self.long_scale))
        size = _block_size(gen, (H, W), (scale, scale), self.aspect)
        area = _blocks(gen, (H, W), size, (batch, blocks)).any(1)  # [B, H, W]
        starved = ((~area).flatten(1).sum(1) * Tc < self.min_context).nonzero().squeeze(1)
        area[starved, torch.randint(0, H, (len(starved),), generator=gen)] = False  # a row
        # Trim spatial positions, then extend them over the context's time steps: tubes
        # stay whole.
        frames = torch.arange(Tc)[:, None] * (H * W)
        context, target = _subset(~area.flatten(1), gen), _subset(area.flatten(1), gen)
        target = (target[:, None] + frames).flatten(1)
        if Tc < T:  # every token after the context's time span is a target
            later = torch.arange(Tc * H * W, T * H * W).expand(batch, -1)
            target = torch.cat([target, later], 1)
        return (context[:, None] + frames).flatten(1), target[:, None]


class MaskCollator:
    """collate_fn: adds ``sets`` mask sets to a batch that carries ``step``, under
    ``masks`` ("0", "1", ...: each a ``context_idx`` and a ``target_idx``; read them with
    ``mask_sets``); with ``crops``, first crops its ``pixels`` (``RandomResizedCrops``).

    ``rank``/``world`` pick this process's share of the global batch's masks and crops.
    """

    def __init__(self, masks: MultiBlockMasks | TubeMasks, rank: int = 0, world: int = 1,
                 sets: int = 1, crops: RandomResizedCrops | None = None):
        if sets < 1:
            raise ValueError(f"mask sets per sample must be at least 1, got {sets}")
        self.masks, self.rank, self.world, self.sets = masks, rank, world, sets
        self.crops = crops

    def __call__(self, batch: TensorDict) -> TensorDict:
        b = batch.shape[0]
        step = int(batch["step"][0])
        share = slice(self.rank * b, (self.rank + 1) * b)
        if self.crops is not None:
            pixels = batch["pixels"]
            boxes = self.crops.boxes(b * self.world, step, *pixels.shape[-2:])[share]
            batch["pixels"] = self.crops(pixels, boxes)
        drawn = {}
        for stream in range(self.sets):
            context, target = self.masks.sample(b * self.world, step, stream)
            drawn[str(stream)] = TensorDict({"context_idx": context[share],
                                             "target_idx": target[share]}, batch_size=[b])
        batch["masks"] = TensorDict(drawn, batch_size=[b])
        return batch


def mask_sets(batch: TensorDict, device: torch.device | str = "cpu"
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """A collated batch's mask sets -> (context_idx [B, K_s] per set, target_idx
    [B, J_s, M_s] per set), on ``device``; none for a batch drawn without (LeJEPA's)."""
    if "masks" not in batch:
        return [], []
    sets = [batch["masks", str(s)] for s in range(len(batch["masks"].keys()))]
    return ([m["context_idx"].to(device) for m in sets],
            [m["target_idx"].to(device) for m in sets])
