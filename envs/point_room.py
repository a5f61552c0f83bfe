"""Point Room: a MuJoCo point mass in two rooms joined by a door (the project's own MJCF).

The same layout as Two Rooms, but with physics: the agent is a sphere pushed by forces on
two slide joints, with inertia and damping, colliding with the walls. Frames come from
MuJoCo's offscreen renderer through an orthographic top-down camera that spans the arena
exactly, so a pixel means the same place in both tasks.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from worldmodel.rendering import lower_mesh_detail, make_renderer, select_gl_backend

from .goal_env import GoalEnv
from .layout import TwoRoomsLayout

_MJCF = """
<mujoco model="point_room">
  <compiler angle="radian"/>
  <option timestep="0.01" integrator="implicitfast"/>
  <visual>
    <quality shadowsize="0" offsamples="0" numslices="8" numstacks="6"/>
    <headlight ambient="0.6 0.6 0.6" diffuse="0.4 0.4 0.4" specular="0 0 0"/>
  </visual>
  <default>
    <geom contype="1" conaffinity="1" friction="0 0 0" solref="0.01 1"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" pos="0.5 0.5 0" size="0.5 0.5 0.01" rgba="0.92 0.92 0.89 1"
          contype="0" conaffinity="0"/>
    <geom name="wall_low" type="box" pos="0.5 0.2 0.03" size="0.02 0.2 0.03"
          rgba="0.27 0.27 0.31 1"/>
    <geom name="wall_high" type="box" pos="0.5 0.8 0.03" size="0.02 0.2 0.03"
          rgba="0.27 0.27 0.31 1"/>
    <geom name="border_w" type="box" pos="-0.01 0.5 0.03" size="0.01 0.52 0.03"
          rgba="0.27 0.27 0.31 1"/>
    <geom name="border_e" type="box" pos="1.01 0.5 0.03" size="0.01 0.52 0.03"
          rgba="0.27 0.27 0.31 1"/>
    <geom name="border_s" type="box" pos="0.5 -0.01 0.03" size="0.52 0.01 0.03"
          rgba="0.27 0.27 0.31 1"/>
    <geom name="border_n" type="box" pos="0.5 1.01 0.03" size="0.52 0.01 0.03"
          rgba="0.27 0.27 0.31 1"/>
    <camera name="top" mode="fixed" pos="0.5 0.5 1.0" projection="orthographic" fovy="1.0"/>
    <body name="agent" pos="0 0 0.03">
      <joint name="x" type="slide" axis="1 0 0" damping="5"/>
      <joint name="y" type="slide" axis="0 1 0" damping="5"/>
      <geom name="agent" type="sphere" size="0.03" mass="1" rgba="0.86 0.16 0.16 1"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="x" gear="5" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="y" gear="5" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""


class PointRoomEnv(GoalEnv):
    """MuJoCo point-mass navigation through a door.

    State: (x, y, vx, vy). Action: force in [-1, 1]^2. Goal: a position (x, y) in the
    other room by default. Success: within ``success_radius`` of the goal.
    """

    frame_neutral_kwargs = (*GoalEnv.frame_neutral_kwargs, "frame_skip", "motor_gear",
                            "success_radius", "cross_rooms")

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        image_size: int = 64,
        frame_skip: int = 5,
        motor_gear: float = 5.0,
        door_y: float = 0.5,
        door_width: float = 0.2,
        random_door: bool = False,
        cross_rooms: bool = True,
        success_radius: float = 0.05,
        terminate_on_success: bool = True,
        render_mode: str | None = "rgb_array",
    ) -> None:
        super().__init__(image_size, state_dim=4, goal_dim=2, action_dim=2,
                         terminate_on_success=terminate_on_success, render_mode=render_mode)
        select_gl_backend()
        import mujoco

        self._mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_string(_MJCF)
        # The motors' strength: force = gear x action. Another value is the same room with a
        # weaker or stronger agent (what world-model correction is measured on).
        self.model.actuator_gear[:, 0] = motor_gear
        self.data = mujoco.MjData(self.model)
        self.frame_skip = frame_skip
        self.random_door = random_door
        self.cross_rooms = cross_rooms
        self.success_radius = success_radius
        self.layout = TwoRoomsLayout(door_y=door_y, door_width=door_width)
        self._place_door()
        lower_mesh_detail(self.model)
        self._renderer = None
        self._camera = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "top")

    def _place_door(self) -> None:
        """Resize the two wall segments so the gap sits at ``layout.door_y``."""
        lay, m = self.layout, self.model
        lo = lay.door_y - lay.door_width / 2
        hi = lay.door_y + lay.door_width / 2
        for name, (a, b) in (("wall_low", (0.0, lo)), ("wall_high", (hi, 1.0))):
            gid = self._mujoco.mj_name2id(m, self._mujoco.mjtObj.mjOBJ_GEOM, name)
            m.geom_pos[gid, 1] = (a + b) / 2
            m.geom_size[gid, 1] = max((b - a) / 2, 1e-4)
            m.geom_rbound[gid] = float(np.linalg.norm(m.geom_size[gid]))

    def _reset_state(self, rng: np.random.Generator) -> np.ndarray:
        self.layout, start, goal = self.layout.sample_episode(rng, self.random_door,
                                                              self.cross_rooms)
        if self.random_door:
            self._place_door()
        self._mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = start
        self._mujoco.mj_forward(self.model, self.data)
        return goal

    def _advance(self, action: np.ndarray) -> None:
        self.data.ctrl[:] = np.clip(action, -1.0, 1.0)
        self._mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)

    def state(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float32)

    def set_state(self, state: np.ndarray) -> None:
        """Put the simulator in ``state`` [4] (position and velocity)."""
        self.data.qpos[:] = state[:2]
        self.data.qvel[:] = state[2:4]
        self._mujoco.mj_forward(self.model, self.data)

    def achieved_goal(self, state: np.ndarray) -> np.ndarray:
        return state[..., :2]

    def is_success(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.linalg.norm(state[..., :2] - goal[..., :2], axis=-1) < self.success_radius

    def draw(self, state: np.ndarray) -> np.ndarray:
        if self._renderer is None:
            self._renderer = make_renderer(self.model, self.image_size, self.image_size)
        saved = self.state()
        moved = not np.array_equal(saved, state)
        if moved:
            self.set_state(state)
        self._renderer.update_scene(self.data, camera=self._camera)
        frame = self._renderer.render()
        if moved:
            self.set_state(saved)
        return frame

    def _extra_info(self, state: np.ndarray) -> dict[str, Any]:
        return {"door_y": np.float32(self.layout.door_y)}

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def register() -> None:
    """Register under the project's Gymnasium namespace."""
    gym.register(id="worldmodel/PointRoom-v0", entry_point=PointRoomEnv, max_episode_steps=200)
