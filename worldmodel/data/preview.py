"""A preview video of a dataset: each episode's frames beside its goal."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldmodel.video import side_by_side, write_video

from .dataset import EpisodeDataset


def write_preview(data: EpisodeDataset, path: str | Path, episodes: int = 4) -> Path:
    """MP4 of the first ``episodes`` episodes, one row each: observation | goal."""
    eps = data.episodes[: min(episodes, len(data))]
    pixels = eps["pixels"].numpy()  # [E, T+1, C, H, W]
    goals = np.broadcast_to(eps["goal_pixels"].numpy()[:, None], pixels.shape)
    rows = side_by_side(pixels, goals)  # [E, T+1, h, w, 3]
    frames = np.concatenate(list(rows), axis=1)  # stack episodes vertically -> [T+1, E*h, w, 3]
    return write_video(path, frames, fps=10)
