"""A grid maze's geometry: which cell a point is in, and where a shortest path heads next.

The grid follows gymnasium-robotics' convention (row 0 at the top, ``1`` a wall, any other
entry free; cells ``scaling`` wide, the grid centred on the origin, y pointing up), so the
scripted expert of a PointMaze task needs nothing from its simulator.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class MazeLayout:
    """Free cells of a grid maze and the next cell on a shortest path between any two."""

    maze_map: tuple[tuple[int, ...], ...]
    scaling: float = 1.0
    walls: np.ndarray = field(init=False, repr=False, compare=False)  # [rows, cols] bool
    # next_cell[r, c, gr, gc] = (row, col) of the first step from (r, c) towards (gr, gc).
    next_cell: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grid = np.array([[cell == 1 for cell in row] for row in self.maze_map], bool)
        if grid.ndim != 2 or grid.all():
            raise ValueError("a maze map is a rectangular grid with at least one free cell")
        object.__setattr__(self, "walls", grid)
        object.__setattr__(self, "next_cell", self._shortest_steps(grid))

    @classmethod
    def of(cls, maze_map, scaling: float = 1.0) -> MazeLayout:
        """From a gymnasium-robotics map (lists of ints or letters such as 'g', 'r')."""
        return cls(tuple(tuple(1 if c == 1 else 0 for c in row) for row in maze_map), scaling)

    @staticmethod
    def _shortest_steps(walls: np.ndarray) -> np.ndarray:
        # One breadth-first search from every goal cell; the step from a cell towards the goal
        # is the neighbour the search reached it from.
        rows, cols = walls.shape
        steps = np.full((rows, cols, rows, cols, 2), -1, np.int64)
        for goal in zip(*np.nonzero(~walls), strict=True):
            steps[goal][goal] = goal
            queue = deque([goal])
            while queue:
                r, c = queue.popleft()
                for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                    inside = 0 <= nr < rows and 0 <= nc < cols
                    if inside and not walls[nr, nc] and steps[nr, nc][goal][0] < 0:
                        steps[nr, nc][goal] = (r, c)
                        queue.append((nr, nc))
        return steps

    @property
    def shape(self) -> tuple[int, int]:
        return self.walls.shape

    @property
    def size(self) -> tuple[float, float]:
        """Width and height of the whole grid in metres."""
        rows, cols = self.shape
        return cols * self.scaling, rows * self.scaling

    def cell(self, xy: np.ndarray) -> np.ndarray:
        """Positions [..., 2] -> (row, col) [..., 2], clipped to the grid."""
        rows, cols = self.shape
        width, height = self.size
        col = np.floor((xy[..., 0] + width / 2) / self.scaling).astype(np.int64)
        row = np.floor((height / 2 - xy[..., 1]) / self.scaling).astype(np.int64)
        return np.stack([row.clip(0, rows - 1), col.clip(0, cols - 1)], -1)

    def centre(self, rowcol: np.ndarray) -> np.ndarray:
        """(row, col) [..., 2] -> the cell centre's position [..., 2]."""
        width, height = self.size
        x = (rowcol[..., 1] + 0.5) * self.scaling - width / 2
        y = height / 2 - (rowcol[..., 0] + 0.5) * self.scaling
        return np.stack([x, y], -1)

    def waypoint(self, pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Where a shortest path through free cells heads next: the goal itself once in its
        cell, else the centre of the next cell. pos, goal [B, 2] -> [B, 2]."""
        here, there = self.cell(pos), self.cell(goal)
        step = self.next_cell[here[:, 0], here[:, 1], there[:, 0], there[:, 1]]
        same = (here == there).all(-1) | (step[:, 0] < 0)  # unreachable: head straight there
        return np.where(same[:, None], goal, self.centre(step)).astype(np.float64)
