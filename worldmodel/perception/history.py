"""Frame history: the last k frames stacked along channels, so velocity is observable.

One frame shows where a body is, not how fast it moves; a point mass with inertia needs two.
The encoder then reads [B, k*C, H, W] (oldest frame first). Before an episode has k frames,
the first frame is repeated: a body shown still is a body at rest, which is also how a goal
image is read (the agent stopped at the goal).
"""

from __future__ import annotations

import torch


def stack_frames(frames: torch.Tensor, k: int, pad: bool = False,
                 every: int = 1) -> torch.Tensor:
    """Sliding windows of k frames: [..., T, C, H, W] -> [..., T-k+1, k*C, H, W], or
    [..., T, k*C, H, W] with ``pad`` (the first frame repeated before the start); ``every``
    s keeps only every s-th window, and builds no other."""
    if k == 1:
        return frames[..., ::every, :, :, :]
    if pad:
        first = frames[..., :1, :, :, :].expand(*frames.shape[:-4], k - 1, *frames.shape[-3:])
        frames = torch.cat([first, frames], dim=-4)
    T = frames.shape[-4]
    if k > T:
        raise ValueError(f"{T} frames are fewer than the history of {k} the encoder reads")
    windows = torch.stack([frames[..., i:T - k + 1 + i:every, :, :, :] for i in range(k)],
                          dim=-4)
    return windows.flatten(-4, -3)


def still(frame: torch.Tensor, k: int) -> torch.Tensor:
    """One frame [B, C, H, W] read as k identical frames [B, k*C, H, W] (a body at rest)."""
    return frame.repeat(1, k, 1, 1)


class FrameHistory:
    """The last k frames of E environments; ``push`` a frame [E, C, H, W] and get the stack
    [E, k*C, H, W]. ``clear`` at the start of episodes."""

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError(f"a frame history holds at least 1 frame, got {k}")
        self.k = k
        self._stack: torch.Tensor | None = None

    def clear(self) -> None:
        self._stack = None

    def select(self, rows: torch.Tensor) -> None:
        """Keep the histories of environments ``rows`` [E'] (indices) only."""
        if self._stack is not None:
            self._stack = self._stack[rows.to(self._stack.device)]

    def push(self, frame: torch.Tensor) -> torch.Tensor:
        if self._stack is None or self._stack.shape[0] != frame.shape[0]:
            self._stack = still(frame, self.k)
        else:
            C = frame.shape[1]
            self._stack = torch.cat([self._stack[:, C:], frame], dim=1)
        return self._stack
