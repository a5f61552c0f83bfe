"""Import of the official I-JEPA and V-JEPA checkpoint formats into this project's ViT.

Those checkpoints hold ``encoder``, ``predictor`` and ``target_encoder`` state dicts whose
keys carry a ``module.`` (I-JEPA, DDP) or ``module.backbone.`` (V-JEPA) prefix. An explicit
key map renames them; the fixed position embedding is interpolated when the checkpoint was
trained at another resolution; every missing, unexpected or mis-shaped key is reported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .checkpoint import CheckpointError
from .vit import Predictor, VisionTransformer

# (official pattern, ours). Applied after the prefix is stripped.
ENCODER_KEYS = [
    (r"^patch_embed\.proj\.(weight|bias)$", r"patch_embed.\1"),
    (r"^blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$", r"blocks.\1.mlp.0.\2"),
    (r"^blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$", r"blocks.\1.mlp.2.\2"),
    (r"^blocks\.(\d+)\.(norm1|norm2|attn\.qkv|attn\.proj)\.(weight|bias)$", r"blocks.\1.\2.\3"),
    (r"^norm\.(weight|bias)$", r"norm.\1"),
]
PREDICTOR_KEYS = [
    (r"^predictor_embed\.(weight|bias)$", r"embed.\1"),
    (r"^mask_token$", r"mask_token"),
    (r"^mask_tokens\.0$", r"mask_token"),  # V-JEPA keeps one mask token per mask type
    (r"^predictor_blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$", r"blocks.\1.mlp.0.\2"),
    (r"^predictor_blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$", r"blocks.\1.mlp.2.\2"),
    (r"^predictor_blocks\.(\d+)\.(norm1|norm2|attn\.qkv|attn\.proj)\.(weight|bias)$",
     r"blocks.\1.\2.\3"),
    (r"^predictor_norm\.(weight|bias)$", r"norm.\1"),
    (r"^predictor_proj\.(weight|bias)$", r"head.\1"),
]
PREFIXES = ("module.backbone.", "module.", "backbone.")
POSITION_KEYS = ("pos_embed", "predictor_pos_embed")


@dataclass
class ImportReport:
    """What an import did: keys loaded, and keys the map or the model could not place."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the checkpoint
    unexpected: list[str] = field(default_factory=list)  # in the checkpoint, not mapped
    mis_shaped: list[str] = field(default_factory=list)
    interpolated: bool = False

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mis_shaped)

    def __str__(self) -> str:
        return (f"loaded {len(self.loaded)} tensors; missing {self.missing}; unexpected "
                f"{self.unexpected}; mis-shaped {self.mis_shaped}"
                f"{'; position embedding interpolated' if self.interpolated else ''}")


def _strip(key: str) -> str:
    for prefix in PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _rename(key: str, table: list[tuple[str, str]]) -> str | None:
    for pattern, repl in table:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    return None


def interpolate_positions(pos: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
    """A position table [1 or -, N, D] of a square (or cubic in space) grid resized to
    ``grid`` (bicubic over space; time is kept or linearly resized) -> [prod(grid), D]."""
    pos = pos.reshape(-1, pos.shape[-1]).float()
    n, d = pos.shape
    if n == math.prod(grid):
        return pos
    frames = grid[0] if len(grid) == 3 else 1
    side = round(math.sqrt(n // frames))
    if frames * side * side != n:
        raise CheckpointError(f"cannot interpolate {n} position embeddings to grid {grid}")
    x = pos.reshape(frames, side, side, d).permute(3, 0, 1, 2)[None]  # [1, D, T, S, S]
    if len(grid) == 3:
        x = F.interpolate(x, size=grid, mode="trilinear", align_corners=False)
    else:
        x = F.interpolate(x[:, :, 0], size=grid, mode="bicubic", align_corners=False)[:, :, None]
    return x[0].permute(1, 2, 3, 0).reshape(-1, d)


def import_state(module: VisionTransformer | Predictor, state: dict[str, torch.Tensor],
                 strict: bool = True) -> ImportReport:
    """Load an official-format state dict into ``module`` via the key map."""
    table = PREDICTOR_KEYS if isinstance(module, Predictor) else ENCODER_KEYS
    own = module.state_dict()
    report, mapped = ImportReport(), {}
    for key, value in state.items():
        short = _strip(key)
        if short in POSITION_KEYS:
            grid = module.cfg.grid if isinstance(module, VisionTransformer) else None
            target = module.pos_embed
            resized = interpolate_positions(value, grid) if grid else value.reshape(target.shape)
            report.interpolated = resized.shape[0] != value.reshape(-1, value.shape[-1]).shape[0]
            if resized.shape != target.shape:
                report.mis_shaped.append(f"{key}: {tuple(value.shape)} -> {tuple(target.shape)}")
            else:
                module.pos_embed.copy_(resized)
                report.loaded.append(key)
            continue
        ours = _rename(short, table)
        if ours is None or ours not in own:
            report.unexpected.append(key)
        elif own[ours].shape != value.shape:
            report.mis_shaped.append(f"{key}: checkpoint {tuple(value.shape)} vs model "
                                     f"{tuple(own[ours].shape)}")
        else:
            mapped[ours] = value
            report.loaded.append(key)
    report.missing = sorted(set(own) - set(mapped))
    if strict and not report.ok:
        raise CheckpointError(f"official checkpoint does not fit: {report}")
    module.load_state_dict({**own, **mapped})
    return report


def import_official(checkpoint: dict | str, encoder: VisionTransformer,
                    predictor: Predictor | None = None, which: str = "target_encoder",
                    strict: bool = True) -> dict[str, ImportReport]:
    """Load ``checkpoint[which]`` (and ``checkpoint["predictor"]``) into our modules."""
    if isinstance(checkpoint, str):
        checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if which not in checkpoint:
        raise CheckpointError(f"checkpoint has no {which!r} entry; it has {sorted(checkpoint)}")
    reports = {which: import_state(encoder, checkpoint[which], strict)}
    if predictor is not None:
        if "predictor" not in checkpoint:
            raise CheckpointError("checkpoint has no 'predictor' entry")
        reports["predictor"] = import_state(predictor, checkpoint["predictor"], strict)
    return reports
