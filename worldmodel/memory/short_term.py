"""Short-term memory: the episode's record of (tau, s_tau, IC(s_tau)), perceived or imagined.

A fixed-capacity ring buffer of TensorDict rows. It feeds critic training (pairs of a state
and the intrinsic cost ``delta`` steps later in the same episode) and world-model
correction (windows of perceived states and the actions between them), and can hold the
planner's imagined rollouts beside what was perceived.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict


class ShortTermMemory:
    """Ring buffer of rows with keys ``episode``, ``tau`` (int64), ``state`` [D],
    ``action`` [A], ``goal`` [D], ``cost`` (intrinsic cost, float) and ``imagined`` (bool)."""

    def __init__(self, capacity: int, state_dim: int, action_dim: int) -> None:
        if capacity < 1:
            raise ValueError(f"memory capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.rows = TensorDict(
            {
                "episode": torch.zeros(capacity, dtype=torch.int64),
                "tau": torch.zeros(capacity, dtype=torch.int64),
                "state": torch.zeros(capacity, state_dim),
                "action": torch.zeros(capacity, action_dim),
                "goal": torch.zeros(capacity, state_dim),
                "cost": torch.zeros(capacity),
                "imagined": torch.zeros(capacity, dtype=torch.bool),
            },
            batch_size=[capacity],
        )
        self._next = 0  # where the next row goes
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def write(self, rows: TensorDict) -> None:
        """Append rows [n] (oldest rows are overwritten once full)."""
        n = rows.shape[0]
        if n > self.capacity:
            rows, n = rows[-self.capacity:], self.capacity
        idx = (self._next + torch.arange(n)) % self.capacity
        self.rows[idx] = rows.select(*self.rows.keys()).to(self.rows.device)
        self._next = (self._next + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def read(self, last: int | None = None, imagined: bool | None = None) -> TensorDict:
        """Rows in write order (oldest first), optionally the ``last`` n, optionally only
        perceived (``imagined=False``) or imagined ones."""
        order = (self._next - self._size + torch.arange(self._size)) % self.capacity
        rows = self.rows[order]
        if imagined is not None:
            rows = rows[rows["imagined"] == imagined]
        return rows if last is None else rows[-last:]

    def sample(self, n: int, generator: torch.Generator | None = None) -> TensorDict:
        """n rows drawn uniformly with replacement."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty memory")
        idx = torch.randint(self._size, (n,), generator=generator)
        return self.read()[idx]

    def windows(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every run of ``length`` + 1 consecutive perceived steps of one episode: states
        [n, length + 1, D] and the actions taken between them [n, length, A] (what a world
        model can be corrected on)."""
        if length < 1:
            raise ValueError(f"a window spans at least one step, got length {length}")
        rows = self.read(imagined=False)
        key = _time_keys(rows)
        sorted_key, order = key.sort()
        offsets = torch.arange(length + 1)
        wanted = sorted_key[:, None] + offsets  # [n, length + 1]
        pos = torch.searchsorted(sorted_key, wanted).clamp_max(len(key) - 1)
        whole = (sorted_key[pos] == wanted).all(1)
        idx = order[pos[whole]]  # rows of each complete window, in time order
        return rows["state"][idx], rows["action"][idx[:, :-1]]

    def returns(self, discount: float) -> tuple[TensorDict, torch.Tensor]:
        """Perceived rows and the discounted intrinsic cost still to come from each:
        G_tau = IC(s_tau) + discount * G_{tau+1} within its episode, up to the last step the
        memory holds of it (the cost-to-go a critic learns). -> (rows [n], G [n])."""
        rows = self.read(imagined=False)
        key = _time_keys(rows)
        order = key.argsort()
        rows = rows[order]
        cost, key = rows["cost"].tolist(), key[order].tolist()
        out, ahead = [0.0] * len(cost), 0.0
        for i in range(len(cost) - 1, -1, -1):  # a backward pass: G depends on G after it
            follows = i + 1 < len(cost) and key[i + 1] == key[i] + 1
            ahead = cost[i] + (discount * ahead if follows else 0.0)
            out[i] = ahead
        return rows, torch.tensor(out)

    def pairs(self, delta: int) -> tuple[TensorDict, TensorDict]:
        """Perceived rows (s_tau) and the rows delta steps later in the same episode."""
        rows = self.read(imagined=False)
        key = _time_keys(rows)
        sorted_key, order = key.sort()
        pos = torch.searchsorted(sorted_key, key + delta).clamp_max(len(key) - 1)
        found = sorted_key[pos] == key + delta
        return rows[found], rows[order[pos[found]]]


def _time_keys(rows: TensorDict) -> torch.Tensor:
    """One int64 per row [n], ordered by episode then tau: consecutive steps of one episode
    have consecutive keys, so "k steps later in the same episode" is key + k."""
    return rows["episode"] * (1 << 32) + rows["tau"]
