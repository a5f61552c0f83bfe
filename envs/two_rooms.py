"""Two Rooms: a point agent in two rooms joined by a door, drawn in numpy.

The navigation task of PLDM and EB-JEPA: reach a goal position, usually in the other
room, through a door in the dividing wall. Observations are top-down RGB frames; the goal
is an observation of the same scene with the agent at the goal.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .goal_env import GoalEnv
from .layout import TwoRoomsLayout

_BACKGROUND = np.array([236, 236, 228], np.uint8)
_WALL = np.array([70, 70, 80], np.uint8)
_AGENT = np.array([220, 40, 40], np.uint8)


class TwoRoomsEnv(GoalEnv):
    """Point navigation between two rooms.

    State: agent position (x, y) in the unit square. Action: a 2-D displacement in [-1, 1]^2
    whose norm is clipped to 1 and scaled by ``max_step``. Success: within
    ``success_radius`` of the goal position.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    frame_neutral_kwargs = (*GoalEnv.frame_neutral_kwargs, "max_step", "success_radius",
                            "cross_rooms")

    def __init__(
        self,
        image_size: int = 64,
        max_step: float = 0.05,
        door_y: float = 0.5,
        door_width: float = 0.2,
        random_door: bool = False,
        cross_rooms: bool = True,
        success_radius: float = 0.05,
        terminate_on_success: bool = True,
        render_mode: str | None = "rgb_array",
    ) -> None:
        super().__init__(image_size, state_dim=2, goal_dim=2, action_dim=2,
                         terminate_on_success=terminate_on_success, render_mode=render_mode)
        self.max_step = max_step
        self.random_door = random_door
        self.cross_rooms = cross_rooms
        self.success_radius = success_radius
        self.layout = TwoRoomsLayout(door_y=door_y, door_width=door_width)
        self._pos = np.zeros(2)
        self._background = self._draw_background()
        yy, xx = np.mgrid[0:image_size, 0:image_size]
        # Row 0 is the top of the arena (y = 1), as seen by a camera looking down.
        self._pixel_centres = np.stack([(xx + 0.5) / image_size, 1 - (yy + 0.5) / image_size], -1)

    # -- dynamics ------------------------------------------------------------------------
    def displacement(self, action: np.ndarray) -> np.ndarray:
        """Action [B, 2] in [-1, 1] -> displacement [B, 2] of norm at most ``max_step``."""
        a = np.clip(action, -1.0, 1.0)
        norm = np.linalg.norm(a, axis=-1, keepdims=True)
        return self.max_step * a / np.maximum(norm, 1.0)

    def _reset_state(self, rng: np.random.Generator) -> np.ndarray:
        self.layout, self._pos, goal = self.layout.sample_episode(rng, self.random_door,
                                                                  self.cross_rooms)
        if self.random_door:
            self._background = self._draw_background()
        return goal

    def _advance(self, action: np.ndarray) -> None:
        self._pos = self.layout.move(self._pos[None], self.displacement(action[None]))[0]

    def state(self) -> np.ndarray:
        return self._pos.astype(np.float32)

    def achieved_goal(self, state: np.ndarray) -> np.ndarray:
        return state[..., :2]

    def is_success(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.linalg.norm(state[..., :2] - goal[..., :2], axis=-1) < self.success_radius

    # -- drawing -------------------------------------------------------------------------
    def _draw_background(self) -> np.ndarray:
        n = self.image_size
        img = np.empty((n, n, 3), np.uint8)
        img[:] = _BACKGROUND
        c = (np.arange(n) + 0.5) / n
        lay = self.layout
        wall_cols = np.abs(c - lay.wall_x) <= lay.wall_thickness / 2
        door_rows = np.abs((1 - c) - lay.door_y) <= lay.door_width / 2
        img[np.ix_(~door_rows, wall_cols)] = _WALL
        edge = max(1, n // 64)
        img[:edge], img[-edge:], img[:, :edge], img[:, -edge:] = _WALL, _WALL, _WALL, _WALL
        return img

    def draw(self, state: np.ndarray) -> np.ndarray:
        img = self._background.copy()
        r = self.layout.agent_radius
        n = self.image_size
        # Only the pixels in the agent's bounding box are tested.
        x0, x1 = max(0, int((state[0] - r) * n)), min(n, int((state[0] + r) * n) + 2)
        y0, y1 = max(0, int((1 - state[1] - r) * n)), min(n, int((1 - state[1] + r) * n) + 2)
        box = self._pixel_centres[y0:y1, x0:x1]
        inside = ((box - state[:2]) ** 2).sum(-1) <= r * r
        img[y0:y1, x0:x1][inside] = _AGENT
        return img

    def _extra_info(self, state: np.ndarray) -> dict[str, Any]:
        return {"door_y": np.float32(self.layout.door_y)}


def register() -> None:
    """Register under the project's Gymnasium namespace."""
    gym.register(id="worldmodel/TwoRooms-v0", entry_point=TwoRoomsEnv, max_episode_steps=100)
