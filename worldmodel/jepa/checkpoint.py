"""Checkpoints: written atomically, read with ``weights_only=True``, checked against the run.

A checkpoint is a dict of state dicts plus the resolved config (plain data) and the step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A missing, corrupt or mismatched checkpoint."""


def save_atomic(obj: dict[str, Any], path: str | Path) -> Path:
    """torch.save to a temporary file, then rename: a crash never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by this project (or a compatible one) safely."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch checkpoint: "
                              f"{err}") from err


def checkpoint_kind(ckpt: dict[str, Any]) -> str | None:
    """Which command wrote ``ckpt``: ``train``, ``pretrain`` or None (another program)."""
    if "train_config" in ckpt:
        return "train"
    return "pretrain" if "config" in ckpt and "model" in ckpt else None


def expect_kind(ckpt: dict[str, Any], path: str | Path, kind: str) -> None:
    """Raise unless ``ckpt`` was written by ``jepa <kind>`` (``pretrain`` or ``train``), naming
    what it is instead and what to do with it."""
    found = checkpoint_kind(ckpt)
    if found == kind:
        return
    if found == "pretrain":  # an encoder where a world model is wanted
        hint = ("it is a `jepa pretrain` checkpoint (an encoder alone); train a world model "
                f"on it with `jepa train recipe=frozen perception_checkpoint={path}` and use "
                "that run's last.pt")
    elif found == "train":  # a world model where a pretrained encoder is wanted
        hint = ("it is a `jepa train` checkpoint (a world model); give the last.pt of a "
                "`jepa pretrain` run")
    else:
        hint = "it was not written by this project's `jepa pretrain` or `jepa train`"
    raise CheckpointError(f"{path} is not a `jepa {kind}` checkpoint: {hint}")


def check_same_run(saved: dict[str, Any], asked: dict[str, Any], keys: tuple[str, ...],
                   path: str | Path, before: Mapping[str, Any] | None = None) -> None:
    """Refuse to resume ``path`` (made with config ``saved``) into a run asking for
    ``asked`` when they differ on one of ``keys``: the run would silently change course.
    ``before``: what a key meant in checkpoints written before it was a setting."""
    before = before or {}
    for key in keys:
        made = saved[key] if key in saved else before.get(key)
        if made != asked.get(key):
            raise CheckpointError(
                f"cannot resume {path}: it was made with {key}={made!r}, this run "
                f"asks for {asked.get(key)!r}; ask for the same or start another out="
            )


def load_matching(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """load_state_dict that reports every missing, unexpected or mis-shaped key at once."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{what} does not fit this architecture: missing {missing[:8]}"
            f"{'...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
            f"{'...' if len(unexpected) > 8 else ''}, mis-shaped {shapes[:8]}"
        )
    module.load_state_dict(state)
