"""Two rooms joined by a door: geometry shared by the numpy and the MuJoCo tasks.

Coordinates are in the unit square; the wall is a vertical band in the middle with one
door. Everything is batched over the leading axis so the environment, the scripted expert
and the oracle world model share one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _namespace(x):
    """numpy or torch, whichever ``x`` belongs to."""
    if isinstance(x, np.ndarray):
        return np
    import torch

    return torch


@dataclass(frozen=True)
class TwoRoomsLayout:
    """A unit-square arena split by a wall at ``wall_x`` with a door centred at ``door_y``."""

    door_y: float = 0.5
    door_width: float = 0.2
    wall_x: float = 0.5
    wall_thickness: float = 0.04
    agent_radius: float = 0.03

    @property
    def band(self) -> tuple[float, float]:
        """x-range the agent's centre may only enter through the door."""
        half = self.wall_thickness / 2 + self.agent_radius
        return self.wall_x - half, self.wall_x + half

    @property
    def door(self) -> tuple[float, float]:
        """y-range of the door the agent's centre fits through."""
        half = self.door_width / 2 - self.agent_radius
        return self.door_y - half, self.door_y + half

    def room(self, pos: np.ndarray) -> np.ndarray:
        """0 for the left room, 1 for the right. pos [..., 2] -> [...] int."""
        return (pos[..., 0] > self.wall_x).astype(np.int64)

    def move(self, pos, delta):
        """Move without passing through walls. pos, delta [..., 2] -> [..., 2].

        Works on numpy arrays and on torch tensors (differentiably almost everywhere, so a
        planner can take gradients through it). A step is shorter than the wall band, so a
        move either stays in one room, enters the band through the door, or is stopped at
        the band's edge.
        """
        xp = _namespace(pos)
        r = self.agent_radius
        new = xp.clip(pos + delta, r, 1.0 - r)
        lo, hi = self.band
        dlo, dhi = self.door
        x0, x, y = pos[..., 0], new[..., 0], new[..., 1]
        was_in = (x0 > lo) & (x0 < hi)
        now_in = (x > lo) & (x < hi)
        in_door = (y >= dlo) & (y <= dhi)
        # Inside the passage the door's frame bounds y; entering the band elsewhere than the
        # door stops the agent at the band's edge.
        y = xp.where(now_in & was_in, xp.clip(y, dlo, dhi), y)
        edge = lo + (hi - lo) * (x0 > lo)
        x = xp.where(now_in & ~was_in & ~in_door, edge, x)
        return xp.stack([x, y], -1)

    def sample_free(self, rng: np.random.Generator, room: int, n: int = 1) -> np.ndarray:
        """Uniform positions inside one room, clear of its walls. -> [n, 2]."""
        r = self.agent_radius
        lo, hi = self.band
        x_lo, x_hi = (r, lo) if room == 0 else (hi, 1.0 - r)
        x = rng.uniform(x_lo, x_hi, size=n)
        y = rng.uniform(r, 1.0 - r, size=n)
        return np.stack([x, y], axis=-1)

    def sample_episode(self, rng: np.random.Generator, random_door: bool,
                       cross_rooms: bool) -> tuple[TwoRoomsLayout, np.ndarray, np.ndarray]:
        """An episode's layout (a new door height when ``random_door``), start and goal
        [2] (in different rooms when ``cross_rooms``)."""
        layout = self
        if random_door:
            lo = self.door_width / 2 + 0.05
            layout = TwoRoomsLayout(door_y=float(rng.uniform(lo, 1.0 - lo)),
                                    door_width=self.door_width)
        start_room = int(rng.integers(2))
        goal_room = 1 - start_room if cross_rooms else int(rng.integers(2))
        return (layout, layout.sample_free(rng, start_room)[0],
                layout.sample_free(rng, goal_room)[0])

    def waypoint(self, pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Where a shortest path heads next: the door when the goal is in the other room.

        pos, goal [B, 2] -> [B, 2]. The door is approached along its axis so the agent does
        not graze the wall's edge.
        """
        lo, hi = self.band
        door_y = np.broadcast_to(np.asarray(self.door_y, np.float64), pos.shape[:1])
        same_room = self.room(pos) == self.room(goal)
        in_band = (pos[:, 0] > lo) & (pos[:, 0] < hi)
        left = pos[:, 0] < self.wall_x
        aligned = np.abs(pos[:, 1] - door_y) < (self.door_width / 2 - self.agent_radius) / 2
        # Not yet level with the door: go to its mouth; level with it: go through.
        mouth = np.where(left, lo - 0.02, hi + 0.02)
        beyond = np.where(left, hi + 0.02, lo - 0.02)
        cross = ~same_room & ~in_band
        target = goal.astype(np.float64).copy()
        target[cross, 0] = np.where(aligned, beyond, mouth)[cross]
        target[cross | (in_band & ~same_room), 1] = door_y[cross | (in_band & ~same_room)]
        return target
