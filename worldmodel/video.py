"""Videos and frame grids for people to look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def side_by_side(*frames: np.ndarray, scale: int = 4, gap: int = 2) -> np.ndarray:
    """Frames [..., C, H, W] or [..., H, W, 3] uint8 -> one frame [..., H*s, (W*s+gap)*n, 3]."""
    hwc = [f if f.shape[-1] == 3 else np.moveaxis(f, -3, -1) for f in frames]
    big = [np.repeat(np.repeat(f, scale, axis=-3), scale, axis=-2) for f in hwc]
    pad_shape = (*big[0].shape[:-2], gap, 3)
    pieces = []
    for i, f in enumerate(big):
        if i:
            pieces.append(np.full(pad_shape, 255, np.uint8))
        pieces.append(f)
    return np.concatenate(pieces, axis=-2)


def write_video(path: str | Path, frames: np.ndarray, fps: int = 10) -> Path:
    """Write frames [T, H, W, 3] uint8 as MP4 (GIF when the path says so). Returns the path."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        imageio.mimsave(path, list(frames), duration=1000 / fps, loop=0)
    else:
        # Even sizes keep H.264 encoders happy; macro_block_size=1 avoids silent resizing.
        imageio.mimsave(path, list(frames), fps=fps, macro_block_size=1)
    return path
