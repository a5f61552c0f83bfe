"""The goal-conditioned pixel contract every environment of the project honours.

Observation: ``{"pixels": uint8[C, H, W], "goal": uint8[C, H, W]}``, the goal being the
scene drawn with the agent at its goal. ``info`` carries the true ``state``, the
``goal_state``, the ``goal_pose`` (a full state at the goal) and ``is_success``, decided
from the true state, for probes and oracles.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class GoalEnv(gym.Env):
    """Base for goal-conditioned pixel environments.

    Subclasses define the dynamics (``_reset_state``, ``_advance``, ``state``), the goal test
    (``achieved_goal``, ``is_success``) and drawing (``draw``; ``draw_goal`` when a goal is
    not a full state).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    # Constructor arguments that change what happens but not how a frame looks: a model
    # trained on frames made with other values still reads these frames.
    frame_neutral_kwargs: tuple[str, ...] = ("terminate_on_success", "render_mode")

    def __init__(
        self,
        image_size: int,
        state_dim: int,
        goal_dim: int,
        action_dim: int,
        terminate_on_success: bool = True,
        render_mode: str | None = "rgb_array",
    ) -> None:
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        self.image_size = image_size
        self.render_mode = render_mode
        self.terminate_on_success = terminate_on_success
        image = spaces.Box(0, 255, (3, image_size, image_size), np.uint8)
        self.observation_space = spaces.Dict({"pixels": image, "goal": image})
        self.action_space = spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        self.state_dim, self.goal_dim = state_dim, goal_dim
        self._goal = np.zeros(goal_dim, np.float32)
        self._goal_pose = np.zeros(state_dim, np.float32)
        self._goal_pixels = np.zeros((3, image_size, image_size), np.uint8)

    # -- to implement ---------------------------------------------------------------------
    @abstractmethod
    def _reset_state(self, rng: np.random.Generator) -> np.ndarray:
        """Place the agent; return the goal [goal_dim]."""

    @abstractmethod
    def _advance(self, action: np.ndarray) -> None:
        """Apply one action [action_dim] in [-1, 1]."""

    @abstractmethod
    def state(self) -> np.ndarray:
        """The true state [state_dim] float32."""

    @abstractmethod
    def achieved_goal(self, state: np.ndarray) -> np.ndarray:
        """The part of a state [..., state_dim] compared with the goal -> [..., goal_dim]."""

    @abstractmethod
    def is_success(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Success test on true states [..., state_dim] and goals [..., goal_dim] -> [...]."""

    @abstractmethod
    def draw(self, state: np.ndarray) -> np.ndarray:
        """An RGB frame uint8 [H, W, 3] of the scene in ``state``."""

    def goal_pose(self, goal: np.ndarray) -> np.ndarray:
        """A full state [state_dim] with the agent at ``goal`` (at rest)."""
        pose = np.zeros(self.state_dim, np.float32)
        pose[: self.goal_dim] = goal
        return pose

    def draw_goal(self, goal: np.ndarray) -> np.ndarray:
        """An RGB frame [H, W, 3] with the agent at ``goal``."""
        return self.draw(self.goal_pose(goal))

    def _extra_info(self, state: np.ndarray) -> dict[str, Any]:
        """Task-specific entries of ``info`` for the true ``state`` [state_dim]."""
        return {}

    # -- Gymnasium API --------------------------------------------------------------------
    @property
    def goal(self) -> np.ndarray:
        """The current goal [goal_dim]."""
        return self._goal.copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        goal = self._reset_state(self.np_random)
        if options and "goal" in options:
            goal = np.asarray(options["goal"], np.float32)
        self._goal = np.asarray(goal, np.float32)
        self._goal_pose = np.asarray(self.goal_pose(self._goal), np.float32)
        self._goal_pixels = np.ascontiguousarray(self.draw_goal(self._goal).transpose(2, 0, 1))
        return self._observation(), self._info()

    def step(self, action):
        action = np.asarray(action, np.float32)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action must have shape {self.action_space.shape}, got {action.shape}"
            )
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action contains NaN or inf: {action}")
        self._advance(action)
        info = self._info()
        reward = -float(np.linalg.norm(self.achieved_goal(info["state"]) - self._goal))
        terminated = bool(info["is_success"]) and self.terminate_on_success
        return self._observation(), reward, terminated, False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return self.draw(self.state())

    def _observation(self) -> dict[str, np.ndarray]:
        frame = np.ascontiguousarray(self.draw(self.state()).transpose(2, 0, 1))
        return {"pixels": frame, "goal": self._goal_pixels.copy()}

    def _info(self) -> dict[str, Any]:
        state = self.state()
        return {
            "state": state,
            "goal_state": self._goal.copy(),
            "goal_pose": self._goal_pose.copy(),
            "is_success": bool(self.is_success(state, self._goal)),
            **self._extra_info(state),
        }
