"""Behaviour policies that make datasets: uniform random, smooth random pushes and a noisy
scripted expert.

A policy maps the vector env's ``info`` (true ``state`` [N, S], ``goal_state`` [N, G]; the
observation's ``pixels`` and ``goal`` are merged in) to actions [N, A] in [-1, 1]. The
experts know the true state; their noise makes datasets cover the space instead of one path
per goal. A planner as the policy is in planner_policy.py.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from worldmodel.envs.layout import TwoRoomsLayout


@runtime_checkable
class Policy(Protocol):
    """Batched behaviour policy over parallel environments."""

    def __call__(self, info: dict, rng: np.random.Generator) -> np.ndarray:
        """info arrays [N, ...] -> actions [N, A] in [-1, 1]."""
        ...


class RandomPolicy:
    """Uniform actions in [-1, 1]^A."""

    def __init__(self, action_dim: int) -> None:
        self.action_dim = action_dim

    def __call__(self, info: dict, rng: np.random.Generator) -> np.ndarray:
        n = len(info["state"])
        return rng.uniform(-1.0, 1.0, size=(n, self.action_dim)).astype(np.float32)


class NoisyExpert:
    """A scripted expert plus Gaussian noise, clipped to the action bounds.

    ``correlation`` rho makes the noise an AR(1) process over an episode's steps (same
    std ``noise``): sustained pushes, like the smooth action sequences a planner's
    coloured-noise search tries, which white noise averages away. ``reset`` starts it anew.
    """

    def __init__(self, noise: float = 0.3, correlation: float = 0.0) -> None:
        if not 0.0 <= correlation < 1.0:
            raise ValueError(f"noise correlation must be in [0, 1), got {correlation}")
        self.noise, self.correlation = noise, correlation
        self._drift: np.ndarray | None = None

    def reset(self) -> None:
        self._drift = None

    def expert(self, info: dict) -> np.ndarray:
        """Noise-free expert actions [N, A]."""
        raise NotImplementedError

    def __call__(self, info: dict, rng: np.random.Generator) -> np.ndarray:
        action = self.expert(info)
        fresh = rng.standard_normal(action.shape)
        rho = self.correlation
        if self._drift is not None and self._drift.shape == fresh.shape:
            fresh = rho * self._drift + np.sqrt(1.0 - rho * rho) * fresh
        self._drift = fresh
        action = action + self.noise * fresh
        return np.clip(action, -1.0, 1.0).astype(np.float32)


class SmoothRandom(NoisyExpert):
    """Sustained random pushes and no expert: AR(1) Gaussian actions (std ``noise``,
    coefficient ``correlation``), clipped. This is the kind of sequence a planner's
    coloured-noise search tries, and an expert's data never shows: a world model trained
    only on the expert cannot rank those candidates."""

    def __init__(self, action_dim: int, noise: float = 0.7, correlation: float = 0.9) -> None:
        super().__init__(noise, correlation)
        self.action_dim = action_dim

    def expert(self, info: dict) -> np.ndarray:
        return np.zeros((len(info["state"]), self.action_dim))


def _layout(info: dict) -> TwoRoomsLayout:
    door = np.asarray(info.get("door_y", 0.5), np.float64)
    return TwoRoomsLayout(door_y=door)  # an array door_y broadcasts over environments


class TwoRoomsExpert(NoisyExpert):
    """Straight to the door, through it, then straight to the goal."""

    def __init__(self, noise: float = 0.3, correlation: float = 0.0,
                 max_step: float = 0.05) -> None:
        super().__init__(noise, correlation)
        self.max_step = max_step

    def expert(self, info: dict) -> np.ndarray:
        pos, goal = info["state"][:, :2], info["goal_state"][:, :2]
        gap = _layout(info).waypoint(pos, goal) - pos
        return gap / self.max_step


def track_waypoint(state: np.ndarray, waypoint: np.ndarray, gain: float, top_speed: float,
                   feedforward: float, damping: float) -> np.ndarray:
    """Forces that steer a point mass to ``waypoint`` [N, 2]: the velocity it wants is
    ``gain`` times the gap, capped at ``top_speed``; the force is ``feedforward`` times
    that velocity plus ``damping`` times what the current one [state 2:4] lacks of it."""
    pos, vel = state[:, :2], state[:, 2:4]
    wanted = gain * (waypoint - pos)
    speed = np.linalg.norm(wanted, axis=-1, keepdims=True)
    wanted = wanted / np.maximum(speed / top_speed, 1.0)
    return feedforward * wanted + damping * (wanted - vel)


class PointRoomExpert(NoisyExpert):
    """Velocity tracking towards the Two Rooms waypoint (forces, so damp the approach)."""

    def expert(self, info: dict) -> np.ndarray:
        state = info["state"]
        waypoint = _layout(info).waypoint(state[:, :2], info["goal_state"][:, :2])
        return track_waypoint(state, waypoint, gain=4.0, top_speed=1.0, feedforward=1.0,
                              damping=2.0)


class ReacherExpert(NoisyExpert):
    """Joint-space PD control to the inverse-kinematics pose of the target."""

    def expert(self, info: dict) -> np.ndarray:
        state, posed = info["state"], info["goal_pose"]
        error = np.angle(np.exp(1j * (posed[:, :2] - state[:, :2])))  # wrapped to [-pi, pi]
        return 2.0 * error - 0.2 * state[:, 4:6]


class PointMazeExpert(NoisyExpert):
    """Velocity tracking towards the next cell of a shortest path through the maze
    (``info["waypoint"]``): at most 3 m/s, well inside the task's 5 m/s limit, so turns
    are taken without sliding along the walls."""

    def expert(self, info: dict) -> np.ndarray:
        return track_waypoint(info["state"], info["waypoint"], gain=3.0, top_speed=3.0,
                              feedforward=0.0, damping=0.8)


EXPERTS: dict[str, type[NoisyExpert]] = {
    "worldmodel/PointMaze-v0": PointMazeExpert,
    "worldmodel/PointMazeMedium-v0": PointMazeExpert,
    "worldmodel/TwoRooms-v0": TwoRoomsExpert,
    "worldmodel/PointRoom-v0": PointRoomExpert,
    "worldmodel/Reacher-v0": ReacherExpert,
}


def make_policy(name: str, env_id: str, action_dim: int, noise: float = 0.3,
                correlation: float = 0.0) -> Policy:
    """``random``, ``smooth_random`` or ``noisy_expert`` for ``env_id`` (``correlation``:
    AR(1) noise over steps); a clear error when there is no expert."""
    if name == "random":
        return RandomPolicy(action_dim)
    if name == "smooth_random":
        return SmoothRandom(action_dim, noise, correlation)
    if name in ("noisy_expert", "expert"):
        if env_id not in EXPERTS:
            raise ValueError(
                f"no scripted expert for {env_id!r} (experts exist for {sorted(EXPERTS)}); "
                "use policy=random or smooth_random"
            )
        return EXPERTS[env_id](noise=0.0 if name == "expert" else noise,
                               correlation=correlation)
    raise ValueError(
        f"unknown policy {name!r}: choose random, smooth_random, noisy_expert or expert"
    )
