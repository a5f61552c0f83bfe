"""Shuffled batches of frames, clips and multi-step transitions that never cross episodes.

Each dataset indexes (episode, start) pairs whose window fits inside one episode, and
fetches a whole batch with one gather (``__getitems__``), so a ``DataLoader`` costs one
indexing operation per batch rather than one per sample. Items are TensorDicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from tensordict import TensorDict
from torch.utils.data import DataLoader, Dataset, Sampler

from .dataset import DatasetError, EpisodeDataset


def keep_batch(batch: TensorDict) -> TensorDict:
    """The collate_fn of datasets whose ``__getitems__`` already returns the batch."""
    return batch


class _Windows(Dataset):
    """Windows of ``span`` consecutive observations from the chosen episodes."""

    def __init__(
        self, data: EpisodeDataset, span: int, episodes: Sequence[int] | None = None
    ) -> None:
        T = data.meta.episode_length
        if span < 1 or span > T + 1:
            raise DatasetError(
                f"a window of {span} observations does not fit in episodes of {T + 1} "
                f"observations ({data.path}); ask for at most {T + 1} or collect longer episodes"
            )
        self.data = data.episodes
        self.span = span
        ids = torch.as_tensor(list(range(len(data))) if episodes is None else list(episodes))
        starts = torch.arange(T + 2 - span)
        self.index = torch.cartesian_prod(ids, starts).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.index)

    def __getitems__(self, indices: Sequence) -> TensorDict:
        """Batch of windows; indices may be (step, index) pairs from a StepBatchSampler,
        in which case the batch carries ``step`` (for step-seeded mask sampling)."""
        if len(indices) and isinstance(indices[0], tuple | list):
            steps = torch.as_tensor([s for s, _ in indices])
            batch = self._fetch([i for _, i in indices])
            batch["step"] = steps
            return batch
        return self._fetch(indices)

    def _fetch(self, indices: Sequence[int]) -> TensorDict:
        raise NotImplementedError

    def _gather(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = self.index[torch.as_tensor(indices)]
        ep, t = pairs[:, 0:1], pairs[:, 1:2] + torch.arange(self.span)
        return ep, t

    def __getitem__(self, i: int) -> TensorDict:
        return self._fetch([i])[0]


class Frames(_Windows):
    """Single frames: ``pixels`` uint8 [B, C, H, W], ``state`` [B, S]."""

    def __init__(self, data: EpisodeDataset, episodes: Sequence[int] | None = None) -> None:
        super().__init__(data, 1, episodes)

    def _fetch(self, indices: Sequence[int]) -> TensorDict:
        ep, t = self._gather(indices)
        ep, t = ep[:, 0], t[:, 0]
        d = self.data
        return TensorDict(
            {"pixels": d["pixels"][ep, t], "state": d["state"][ep, t]}, batch_size=[len(ep)]
        )


class Clips(_Windows):
    """Clips of ``length`` frames: ``pixels`` [B, T, C, H, W], ``state`` [B, T, S], and the
    ``action`` [B, T-1, A] between consecutive frames."""

    def __init__(
        self, data: EpisodeDataset, length: int, episodes: Sequence[int] | None = None
    ) -> None:
        super().__init__(data, length, episodes)

    def _fetch(self, indices: Sequence[int]) -> TensorDict:
        ep, t = self._gather(indices)
        d = self.data
        return TensorDict(
            {
                "pixels": d["pixels"][ep, t],
                "state": d["state"][ep, t],
                "action": d["action"][ep, t[:, :-1]],
            },
            batch_size=[len(ep)],
        )


class Transitions(_Windows):
    """An observation, the next ``horizon`` actions and the observations they lead to:
    ``pixels`` [B, C, H, W], ``action`` [B, H, A], ``next_pixels`` [B, H, C, H, W], and the
    matching ``state`` [B, S] / ``next_state`` [B, H, S]."""

    def __init__(
        self, data: EpisodeDataset, horizon: int = 1, episodes: Sequence[int] | None = None
    ) -> None:
        super().__init__(data, horizon + 1, episodes)

    def _fetch(self, indices: Sequence[int]) -> TensorDict:
        ep, t = self._gather(indices)
        d = self.data
        pixels, state = d["pixels"][ep, t], d["state"][ep, t]
        return TensorDict(
            {
                "pixels": pixels[:, 0],
                "state": state[:, 0],
                "action": d["action"][ep, t[:, :-1]],
                "next_pixels": pixels[:, 1:],
                "next_state": state[:, 1:],
            },
            batch_size=[len(ep)],
        )


class EncodedTransitions(_Windows):
    """Transitions over latents computed once by a frozen encoder: ``latent`` [B, H+1, D]
    and the ``action`` [B, H, A] between them. ``latents`` [E, T+1, D] holds every frame of
    every episode of ``data`` (frame histories already folded in)."""

    def __init__(self, data: EpisodeDataset, latents: torch.Tensor, horizon: int = 1,
                 episodes: Sequence[int] | None = None) -> None:
        super().__init__(data, horizon + 1, episodes)
        if tuple(latents.shape[:2]) != (len(data), data.meta.episode_length + 1):
            raise DatasetError(f"latents {tuple(latents.shape)} do not cover the "
                               f"{len(data)} episodes of {data.meta.episode_length + 1} frames")
        self.latents = latents

    def _fetch(self, indices: Sequence[int]) -> TensorDict:
        ep, t = self._gather(indices)
        return TensorDict({"latent": self.latents[ep, t],
                           "action": self.data["action"][ep, t[:, :-1]]},
                          batch_size=[len(ep)])


class StepBatchSampler(Sampler):
    """Global batches for steps ``start``..``steps``-1, this process's share of each.

    The sample order is a fixed function of (seed, epoch), so a run resumed at step s sees
    exactly the batches an uninterrupted run sees, and 1 or N processes split the same
    global batch. Yields lists of (step, index) pairs.
    """

    def __init__(self, size: int, global_batch: int, steps: int, start: int = 0,
                 rank: int = 0, world: int = 1, seed: int = 0) -> None:
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} does not split over {world} "
                             f"processes; choose a batch_size divisible by {world}")
        if size < global_batch:
            raise ValueError(f"{size} samples are fewer than one batch of {global_batch}; "
                             "collect more episodes (`jepa collect ... append=true`) or lower "
                             "batch_size")
        self.size, self.global_batch, self.steps, self.start = size, global_batch, steps, start
        self.rank, self.world, self.seed = rank, world, seed
        self.per_epoch = size // global_batch

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        local = self.global_batch // self.world
        epoch, order = -1, None
        for step in range(self.start, self.steps):
            if step // self.per_epoch != epoch:
                epoch = step // self.per_epoch
                gen = torch.Generator().manual_seed(self.seed * 7919 + epoch)
                order = torch.randperm(self.size, generator=gen)
            at = (step % self.per_epoch) * self.global_batch + self.rank * local
            yield [(step, int(i)) for i in order[at:at + local]]


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = True,
    num_workers: int = 0,
    seed: int = 0,
    collate_fn: Callable[[TensorDict], TensorDict] = keep_batch,
    drop_last: bool = True,
) -> DataLoader:
    """A DataLoader of TensorDict batches; ``collate_fn`` runs in the workers (mask sampling
    goes there)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_fn,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0,
    )
