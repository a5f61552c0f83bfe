"""Gymnasium's MuJoCo tasks seen through the project's goal-conditioned pixel contract.

``GoalPixelEnv("Reacher-v5")`` renders the task at a small size, draws the goal as the
same scene with the agent posed at its goal, and decides success from the true simulator
state. What a goal is comes from a :class:`GoalSpec`: one is built in for Reacher, and
any MuJoCo task that follows Gymnasium's goal convention (``desired_goal`` and
``achieved_goal`` in a dict observation, the achieved goal being part of ``qpos``, as in
gymnasium-robotics' PointMaze) works by id with no spec at all.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from worldmodel.rendering import lower_mesh_detail, make_renderer, select_gl_backend

from .goal_env import GoalEnv
from .layout import _namespace
from .maze import MazeLayout


@runtime_checkable
class GoalSpec(Protocol):
    """What the goal of a wrapped task is, and how to show it."""

    goal_dim: int

    def goal(self, sim: Any, obs: Any) -> np.ndarray:
        """The episode's goal [goal_dim] after a reset; ``sim`` is the MuJoCo env."""
        ...

    def achieved(self, state: np.ndarray) -> np.ndarray:
        """The goal-space part of true states [..., S] -> [..., goal_dim]."""
        ...

    def pose_at(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """A copy of ``state`` [S] with the agent placed at ``goal`` (for the goal image)."""
        ...


class ReacherGoal:
    """Reacher: the goal is the target's position; the fingertip must reach it."""

    goal_dim = 2
    markers = ("target",)  # the task's own drawing of the goal
    # Top-down and close: the default view leaves the arm a few pixels wide at 64x64.
    camera = {"distance": 0.58, "elevation": -90.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.0)}
    link1, link2 = 0.1, 0.11  # arm lengths in reacher.xml

    def goal(self, sim: Any, obs: Any) -> np.ndarray:
        return sim.data.qpos[2:4].astype(np.float32).copy()

    def achieved(self, state):
        """Fingertip position by forward kinematics; numpy arrays or torch tensors."""
        xp = _namespace(state)
        q0, q1 = state[..., 0], state[..., 1]
        x = self.link1 * xp.cos(q0) + self.link2 * xp.cos(q0 + q1)
        y = self.link1 * xp.sin(q0) + self.link2 * xp.sin(q0 + q1)
        return xp.stack([x, y], -1)

    def pose_at(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        # Two-link inverse kinematics (elbow up), then the arm at rest.
        l1, l2 = self.link1, self.link2
        d2 = float(np.clip(goal[0] ** 2 + goal[1] ** 2, (l1 - l2) ** 2, (l1 + l2) ** 2))
        c1 = np.clip((d2 - l1 * l1 - l2 * l2) / (2 * l1 * l2), -1.0, 1.0)
        q1 = np.arccos(c1)
        q0 = np.arctan2(goal[1], goal[0]) - np.arctan2(l2 * np.sin(q1), l1 + l2 * np.cos(q1))
        posed = state.copy()
        nq = (len(state)) // 2
        posed[0], posed[1] = q0, q1
        posed[nq:] = 0.0
        return posed


class QposGoal:
    """Goal-convention tasks whose achieved goal is a slice of ``qpos`` (e.g. PointMaze)."""

    def __init__(self, sim: Any, obs: dict) -> None:
        achieved = np.asarray(obs["achieved_goal"], np.float64)
        qpos = sim.data.qpos
        self.goal_dim = len(achieved)
        for start in range(len(qpos) - self.goal_dim + 1):
            if np.allclose(qpos[start:start + self.goal_dim], achieved, atol=1e-6):
                self.slice = slice(start, start + self.goal_dim)
                break
        else:
            raise ValueError(
                f"achieved_goal {achieved} is not part of qpos {qpos}; "
                "pass a GoalSpec that says how to pose the agent at a goal"
            )

    def goal(self, sim: Any, obs: Any) -> np.ndarray:
        return np.asarray(obs["desired_goal"], np.float32).copy()

    def achieved(self, state: np.ndarray) -> np.ndarray:
        return state[..., self.slice]

    def pose_at(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        posed = state.copy()
        posed[self.slice] = goal
        nq = len(state) // 2
        posed[nq:] = 0.0
        return posed


class PointMazeGoal(QposGoal):
    """gymnasium-robotics' PointMaze: the ball's position is the goal; seen from straight
    above, the maze filling the frame. ``extra_info`` gives the next waypoint of a shortest
    path through the maze's cells, for the scripted expert."""

    markers = ("target",)  # the red goal sphere
    velocity_limit = 5.0  # the task clips the ball's speed to this before every step

    def __init__(self, sim: Any, obs: dict, maze: Any) -> None:
        super().__init__(sim, obs)
        self.layout = MazeLayout.of(maze.maze_map, maze.maze_size_scaling)
        # Frame the free cells (the outer walls are a metre of flat colour) with a margin;
        # the free camera's field of view is 45 degrees, so the distance is 1.21 spans.
        free, cell = self.layout.centre(np.argwhere(~self.layout.walls)), self.layout.scaling
        low, high = free.min(0) - cell / 2, free.max(0) + cell / 2
        span = float((high - low).max()) + 0.4 * cell
        centre = (low + high) / 2
        self.camera = {"distance": 1.21 * span, "elevation": -90.0, "azimuth": 90.0,
                       "lookat": (float(centre[0]), float(centre[1]), 0.0)}

    @classmethod
    def from_task(cls, inner: Any, sim: Any, obs: Any) -> PointMazeGoal:
        return cls(sim, obs, inner.maze)

    def extra_info(self, state: np.ndarray, goal: np.ndarray) -> dict[str, np.ndarray]:
        waypoint = self.layout.waypoint(state[None, self.slice], goal[None])[0]
        return {"waypoint": waypoint.astype(np.float32)}


def _reacher(inner: Any, sim: Any, obs: Any) -> GoalSpec:
    return ReacherGoal()


# Task-name prefix -> how to build its goal spec from (unwrapped task, simulator, first obs).
BUILTIN_GOAL_SPECS: dict[str, Callable[[Any, Any, Any], GoalSpec]] = {
    "Reacher": _reacher, "PointMaze": PointMazeGoal.from_task,
}


def _find_simulator(env: gym.Env) -> Any | None:
    """The MuJoCo env holding ``model``/``data``: the env itself or one it wraps by attribute
    (gymnasium-robotics' mazes keep theirs in ``point_env``/``ant_env``)."""
    candidates = [env, *vars(env).values()]
    for obj in candidates:
        if all(hasattr(obj, a) for a in ("model", "data", "set_state")):
            return obj
    return None


class GoalPixelEnv(GoalEnv):
    """Any Gymnasium MuJoCo task that renders ``rgb_array`` and exposes a goal, from pixels.

    The true state is ``(qpos, qvel)``; actions in [-1, 1] are mapped to the task's bounds.
    ``antialias`` multisamples each pixel (0: off): at 64x64 a fingertip is two pixels, and
    anti-aliased edges place it to a fraction of one. ``show_markers=False`` leaves out the
    task's own goal marker (the geoms a GoalSpec names in ``markers``, e.g. Reacher's target):
    the goal image alone then says where to go, and the only thing that moves in a frame is
    the agent. A marker that stands still all episode is the cheapest thing for an
    end-to-end encoder to spend its variance on, and it then ignores the arm.
    ``action_repeat`` holds each action for that many of the task's own steps (PointMaze's
    steps are 10 ms: a planner's horizon of them would not see past the next wall).
    ``motor_scale`` multiplies every actuator's gear: weaker or stronger motors in frames
    that look the same, the kind of change world-model correction is for.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    frame_neutral_kwargs = (*GoalEnv.frame_neutral_kwargs, "success_radius", "action_repeat",
                            "motor_scale")

    def __init__(
        self,
        env_id: str = "Reacher-v5",
        image_size: int = 64,
        success_radius: float = 0.02,
        antialias: int = 4,
        show_markers: bool = True,
        action_repeat: int = 1,
        motor_scale: float = 1.0,
        goal_spec: GoalSpec | None = None,
        terminate_on_success: bool = True,
        render_mode: str | None = "rgb_array",
        **make_kwargs: Any,
    ) -> None:
        select_gl_backend()
        if action_repeat < 1:
            raise ValueError(f"action_repeat is a number of the task's steps >= 1, got "
                             f"{action_repeat}")
        if not motor_scale > 0:
            raise ValueError(f"motor_scale multiplies the actuators' gear and must be > 0, "
                             f"got {motor_scale}")
        _register_robotics(env_id)
        try:
            # Unwrapped: the episode length is this wrapper's TimeLimit, not the task's own.
            inner = gym.make(env_id, **make_kwargs).unwrapped
        except gym.error.Error as err:
            raise ValueError(
                f"cannot wrap {env_id!r} as a pixel goal task: {err}. It must be a registered "
                "Gymnasium MuJoCo environment (see `jepa envs`; gymnasium-robotics' tasks "
                "need `pip install 'worldmodel[robotics]'`)"
            ) from err
        base = _find_simulator(inner)
        if base is None:
            inner.close()
            raise ValueError(f"{env_id!r} is not a MuJoCo task (no simulator state to pose)")
        self._sim = base
        if antialias < 0:
            raise ValueError(f"antialias is a multisample count >= 0 (0: off), got {antialias}")
        lower_mesh_detail(base.model, samples=antialias)
        base.model.actuator_gear[:, 0] *= motor_scale  # this env's own copy of the model
        self.inner = inner
        self.env_id = env_id
        obs, _ = inner.reset(seed=0)
        if goal_spec is None:
            goal_spec = self._default_spec(env_id, inner, base, obs)
        self.spec_goal = goal_spec
        if not show_markers:
            hide_markers(base.model, getattr(goal_spec, "markers", ()))
        self._camera_config = getattr(goal_spec, "camera", None) or getattr(
            getattr(base, "mujoco_renderer", None), "default_cam_config", None) or {}
        self._renderer = None
        self._camera = None
        self.success_radius = success_radius
        self.action_repeat = action_repeat
        self.velocity_limit: float | None = getattr(goal_spec, "velocity_limit", None)
        self._nq = base.model.nq
        low, high = inner.action_space.low, inner.action_space.high
        self._action_low, self._action_scale = low, (high - low) / 2
        state_dim = base.model.nq + base.model.nv
        super().__init__(image_size, state_dim=state_dim, goal_dim=goal_spec.goal_dim,
                         action_dim=inner.action_space.shape[0],
                         terminate_on_success=terminate_on_success, render_mode=render_mode)

    @staticmethod
    def _default_spec(env_id: str, inner: Any, sim: Any, obs: Any) -> GoalSpec:
        for prefix, build in BUILTIN_GOAL_SPECS.items():
            if env_id.split("/")[-1].startswith(prefix):
                return build(inner, sim, obs)
        if isinstance(obs, dict) and {"desired_goal", "achieved_goal"} <= set(obs):
            return QposGoal(sim, obs)
        raise ValueError(
            f"{env_id!r} exposes no goal: it needs 'desired_goal'/'achieved_goal' in a dict "
            f"observation, or a GoalSpec (built in: {sorted(BUILTIN_GOAL_SPECS)})"
        )

    def _reset_state(self, rng: np.random.Generator) -> np.ndarray:
        obs, _ = self.inner.reset(seed=int(rng.integers(2**31 - 1)))
        return self.spec_goal.goal(self._sim, obs)

    def _advance(self, action: np.ndarray) -> None:
        scaled = self._action_low + (np.clip(action, -1.0, 1.0) + 1.0) * self._action_scale
        for _ in range(self.action_repeat):
            self.inner.step(scaled.astype(self.inner.action_space.dtype))

    def state(self) -> np.ndarray:
        data = self._sim.data
        return np.concatenate([data.qpos, data.qvel]).astype(np.float32)

    def set_state(self, state: np.ndarray) -> None:
        """Put the simulator in ``state`` [nq + nv]."""
        self._sim.set_state(state[: self._nq].astype(np.float64),
                                       state[self._nq:].astype(np.float64))

    def achieved_goal(self, state: np.ndarray) -> np.ndarray:
        return self.spec_goal.achieved(state)

    def _extra_info(self, state: np.ndarray) -> dict[str, Any]:
        extra = getattr(self.spec_goal, "extra_info", None)
        return extra(state, self._goal) if extra else {}

    def is_success(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        gap = self.spec_goal.achieved(state) - goal
        return np.linalg.norm(gap, axis=-1) < self.success_radius

    def draw(self, state: np.ndarray) -> np.ndarray:
        saved = self.state()
        moved = not np.array_equal(saved, state)
        if moved:
            self.set_state(state)
        if self._renderer is None:
            self._renderer, self._camera = self._make_camera()
        self._renderer.update_scene(self._sim.data, camera=self._camera)
        frame = self._renderer.render()
        if moved:
            self.set_state(saved)
        return frame

    def _make_camera(self):
        """Our own renderer (its context is made current on every frame, unlike Gymnasium's
        viewer, so several tasks render in one process) and the task's camera."""
        import mujoco

        renderer = make_renderer(self._sim.model, self.image_size, self.image_size)
        camera = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(self._sim.model, camera)
        for key, value in self._camera_config.items():
            if key == "lookat":
                camera.lookat[:] = value
            else:
                setattr(camera, key, value)
        if "trackbodyid" in self._camera_config:
            camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        return renderer, camera

    def goal_pose(self, goal: np.ndarray) -> np.ndarray:
        return self.spec_goal.pose_at(self.state(), goal).astype(np.float32)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.inner.close()


def hide_markers(model: Any, names: tuple[str, ...]) -> None:
    """Make the named geoms or sites invisible (alpha 0); geoms still collide and move."""
    import mujoco

    for name in names:
        geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name)
        if geom >= 0:
            model.geom_rgba[geom, 3] = 0.0
        elif site >= 0:
            model.site_rgba[site, 3] = 0.0
        else:
            raise ValueError(f"the model has no geom or site named {name!r} to hide")


def _register_robotics(env_id: str) -> None:
    """gymnasium-robotics registers its tasks when imported; import it only when asked for
    one of them, so the other tasks work without it."""
    if env_id in gym.registry:
        return
    try:
        # Its import prints a notice about its Adroit tasks' rewards to stderr on every
        # command; none of the project's tasks is concerned.
        with contextlib.redirect_stderr(io.StringIO()):
            import gymnasium_robotics
    except ImportError:
        return  # gym.make then names the unknown id
    gym.register_envs(gymnasium_robotics)


def register() -> None:
    """Register the pixel-goal versions of Gymnasium tasks the project uses."""
    gym.register(id="worldmodel/Reacher-v0", entry_point=GoalPixelEnv,
                 kwargs={"env_id": "Reacher-v5"}, max_episode_steps=100)
    # The U-maze of D4RL and DINO-WM, and D4RL's medium maze; actions held for 5 of the
    # task's 10 ms steps (DINO-WM's frameskip), success within 0.45 of the goal (its own test).
    for name, maze in (("PointMaze", "UMaze"), ("PointMazeMedium", "Medium")):
        gym.register(id=f"worldmodel/{name}-v0", entry_point=GoalPixelEnv,
                     kwargs={"env_id": f"PointMaze_{maze}-v3", "success_radius": 0.45,
                             "action_repeat": 5, "show_markers": False},
                     max_episode_steps=100)
