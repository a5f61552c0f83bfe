"""Episodes on disk: memory-mapped TensorDict chunks listed by an atomically written index.

Layout of a dataset folder::

    meta.json          env id, image size, policy, seeds, and the list of complete chunks
    chunk_00000/       a TensorDict memmap of episodes [E] (see EPISODE_KEYS)
    chunk_00001/ ...

A chunk is written under a temporary name, renamed, and only then listed in ``meta.json``
(itself replaced atomically), so an interrupted collection leaves a readable dataset and
appending never touches what is already there.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tensordict import TensorDict

from worldmodel.atomic_write import write_json_atomic

# Per-episode keys and shapes (T steps, T + 1 observations).
EPISODE_KEYS = {
    "pixels": "uint8 [T+1, C, H, W] observations",
    "state": "float32 [T+1, S] true states",
    "action": "float32 [T, A] actions in [-1, 1]",
    "reward": "float32 [T]",
    "done": "bool [T] terminated or truncated after the step",
    "success": "bool [T+1] the environment's success test on the true state",
    "goal_pixels": "uint8 [C, H, W] goal observation",
    "goal_state": "float32 [G] goal",
}
FORMAT_VERSION = 1


class DatasetError(ValueError):
    """A path that is not a dataset, or a dataset that does not match what was asked."""


@dataclass
class DatasetMeta:
    """What a dataset holds and how it was made."""

    env_id: str
    image_size: int
    episode_length: int
    action_dim: int
    state_dim: int
    goal_dim: int
    policy: str
    seed: int
    env_kwargs: dict = field(default_factory=dict)
    chunks: list[dict] = field(default_factory=list)  # [{"name", "episodes", "seed"}]
    format_version: int = FORMAT_VERSION

    @property
    def num_episodes(self) -> int:
        return sum(c["episodes"] for c in self.chunks)


class EpisodeDataset:
    """A folder of episodes; create, append to, and read.

    ``episodes`` is a TensorDict of batch size [E] with the keys of ``EPISODE_KEYS``.
    """

    def __init__(self, path: Path, meta: DatasetMeta) -> None:
        self.path = Path(path)
        self.meta = meta
        self._episodes: TensorDict | None = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, meta: DatasetMeta) -> EpisodeDataset:
        """A new empty dataset at ``path`` (which must not hold a dataset already)."""
        path = Path(path)
        if (path / "meta.json").exists():
            raise DatasetError(f"{path} already holds a dataset; append to it or pick a new path")
        path.mkdir(parents=True, exist_ok=True)
        meta.chunks = []
        write_json_atomic(path / "meta.json", asdict(meta))
        return cls(path, meta)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        env_id: str | None = None,
        image_size: int | None = None,
    ) -> EpisodeDataset:
        """Open a dataset, checking it is one and, when given, its environment and image size."""
        path = Path(path)
        if not path.exists():
            raise DatasetError(f"dataset {path} does not exist; make one with `jepa collect`")
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise DatasetError(
                f"{path} is not a dataset (no meta.json); point to a folder written by "
                "`jepa collect`"
            )
        try:
            raw = json.loads(meta_file.read_text())
            meta = DatasetMeta(**raw)
        except (json.JSONDecodeError, TypeError) as err:
            raise DatasetError(f"{meta_file} is corrupt or of another format: {err}") from err
        if meta.format_version != FORMAT_VERSION:
            raise DatasetError(
                f"{path} has format version {meta.format_version}, this worldmodel reads "
                f"{FORMAT_VERSION}; collect it again"
            )
        if env_id is not None and meta.env_id != env_id:
            raise DatasetError(
                f"{path} holds episodes of {meta.env_id!r}, expected {env_id!r}; "
                "pick the matching dataset or environment"
            )
        if image_size is not None and meta.image_size != image_size:
            raise DatasetError(
                f"{path} holds {meta.image_size}x{meta.image_size} images, expected "
                f"{image_size}x{image_size}; collect again at that size or change image_size"
            )
        return cls(path, meta)

    # -- writing ---------------------------------------------------------------------------
    def append(self, episodes: TensorDict, seed: int, **record) -> None:
        """Write a batch of episodes [E] as a new chunk, then list it in ``meta.json`` with
        ``record`` (e.g. the behaviour policy that made it: appended chunks may differ)."""
        self._check_episodes(episodes)
        name = f"chunk_{len(self.meta.chunks):05d}"
        tmp = self.path / f".{name}.tmp"
        if tmp.exists():  # left by an interrupted write
            shutil.rmtree(tmp)
        episodes.memmap(prefix=str(tmp))
        os.replace(tmp, self.path / name)
        self.meta.chunks.append({"name": name, "episodes": int(episodes.shape[0]), "seed": seed,
                                 **record})
        write_json_atomic(self.path / "meta.json", asdict(self.meta))
        self._episodes = None

    def _check_episodes(self, episodes: TensorDict) -> None:
        missing = set(EPISODE_KEYS) - set(episodes.keys())
        if missing:
            raise DatasetError(f"episodes lack keys {sorted(missing)}")
        m, T = self.meta, self.meta.episode_length
        want = {
            "pixels": (T + 1, 3, m.image_size, m.image_size),
            "action": (T, m.action_dim),
            "state": (T + 1, m.state_dim),
        }
        for key, shape in want.items():
            if tuple(episodes[key].shape[1:]) != shape:
                raise DatasetError(
                    f"episodes[{key!r}] has shape {tuple(episodes[key].shape[1:])} per episode, "
                    f"this dataset holds {shape}"
                )

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.meta.num_episodes

    @property
    def episodes(self) -> TensorDict:
        """All episodes [E], loaded once into memory."""
        if self._episodes is None:
            if not self.meta.chunks:
                raise DatasetError(f"{self.path} holds no episodes yet")
            chunks = [TensorDict.load_memmap(self.path / c["name"]) for c in self.meta.chunks]
            # cat reads the memory maps straight into one tensor per key: one copy in memory
            # (copying each chunk first would make two: 0.5 GB more for 400 Two Rooms episodes)
            self._episodes = torch.cat(chunks, dim=0)
        return self._episodes

    def split(self, held_out: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
        """Episode indices (train, held out), split by whole episodes."""
        n = len(self)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
        k = max(1, round(held_out * n)) if n > 1 else 0
        return sorted(order[k:]), sorted(order[:k])
