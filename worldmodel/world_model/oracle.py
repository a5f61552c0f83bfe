"""Oracle world models: the true simulator, to separate model error from planner error.

Two Rooms is rolled out analytically in torch (differentiable, so the gradient planner
works on it too); MuJoCo tasks copy the simulator state into ``mujoco.rollout``, which steps
every candidate in C.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from worldmodel.envs.layout import TwoRoomsLayout

from .base import StepRollout


class TwoRoomsOracle(StepRollout):
    """Exact Two Rooms dynamics. State [B, 2] positions; action [B, 2] in [-1, 1]."""

    differentiable = True

    def __init__(self, layout: TwoRoomsLayout | None = None, max_step: float = 0.05) -> None:
        self.layout = layout or TwoRoomsLayout()
        self.max_step = max_step

    @classmethod
    def from_env(cls, env) -> TwoRoomsOracle:
        """The oracle of a ``TwoRoomsEnv`` (its current door)."""
        base = env.unwrapped
        return cls(base.layout, base.max_step)

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        a = action.clamp(-1.0, 1.0)
        norm = a.norm(dim=-1, keepdim=True).clamp_min(1.0)
        return self.layout.move(state, self.max_step * a / norm)


class MujocoOracle:
    """Rolls out copies of a MuJoCo task's simulator. State [B, nq + nv]; action [B, A] in
    [-1, 1], mapped to the actuators' control range and held for ``action_repeat`` of the
    task's steps of ``frame_skip`` physics steps each. ``velocity_limit``: the task clips
    every velocity to this before each of its steps (PointMaze), so the oracle does too."""

    differentiable = False

    def __init__(self, model, frame_skip: int, nthread: int | None = None,
                 action_repeat: int = 1, velocity_limit: float | None = None) -> None:
        import mujoco
        from mujoco import rollout

        self._mujoco, self._rollout = mujoco, rollout
        self.model = model
        self.frame_skip = frame_skip
        self.action_repeat = action_repeat
        self.velocity_limit = velocity_limit
        self.nq, self.nv = model.nq, model.nv
        low, high = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
        self._low, self._scale = low, (high - low) / 2
        # One MjData per thread: mujoco.rollout steps the candidates in parallel in C.
        self._data = [mujoco.MjData(model) for _ in range(nthread or os.cpu_count() or 1)]
        self._spec = mujoco.mjtState.mjSTATE_FULLPHYSICS

    @classmethod
    def from_env(cls, env) -> MujocoOracle:
        """The oracle of a Point Room or wrapped MuJoCo task."""
        base = env.unwrapped
        sim = getattr(base, "_sim", base)
        return cls(sim.model, int(getattr(sim, "frame_skip", 1)),
                   action_repeat=int(getattr(base, "action_repeat", 1)),
                   velocity_limit=getattr(base, "velocity_limit", None))

    def _full_state(self, state: np.ndarray) -> np.ndarray:
        """[B, nq + nv] -> MuJoCo's full physics state [B, size]. Candidates share their
        start state, so only the distinct rows are converted."""
        mj = self._mujoco
        data = self._data[0]
        distinct, inverse = np.unique(state, axis=0, return_inverse=True)
        out = np.empty((len(distinct), mj.mj_stateSize(self.model, self._spec)))
        for i, s in enumerate(distinct):
            data.qpos[:] = s[: self.nq]
            data.qvel[:] = s[self.nq:self.nq + self.nv]
            mj.mj_getState(self.model, data, out[i], self._spec)
        return out[inverse.reshape(-1)]

    def rollout(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        B, H, _ = actions.shape
        s = state.detach().cpu().double().numpy()
        ctrl = self._low + (actions.detach().clamp(-1, 1).cpu().double().numpy() + 1) * self._scale
        # Full physics state = [time, qpos, qvel, act, ...]
        vel = slice(1 + self.nq, 1 + self.nq + self.nv)
        per_action = self.frame_skip * self.action_repeat
        if self.velocity_limit is None:
            ctrl = np.repeat(ctrl, per_action, axis=1)  # [B, H * per_action, nu]
            full, _ = self._rollout.rollout(self.model, self._data, self._full_state(s), ctrl)
            full = full[:, per_action - 1 :: per_action]  # after each action
        else:
            # The clip sits between the task's steps: one short rollout per task step.
            physics, after = self._full_state(s), []
            limit = self.velocity_limit
            for t in range(H):
                held = np.repeat(ctrl[:, t : t + 1], self.frame_skip, axis=1)
                for _ in range(self.action_repeat):
                    physics[:, vel] = physics[:, vel].clip(-limit, limit)
                    physics = self._rollout.rollout(self.model, self._data, physics, held)[0][:, -1]
                after.append(physics.copy())  # the next clip writes into ``physics``
            full = np.stack(after, 1)
        qpos = full[..., 1 : 1 + self.nq]
        qvel = full[..., vel]
        out = np.concatenate([qpos, qvel], axis=-1)
        return torch.as_tensor(out, dtype=torch.float32, device=state.device)

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.rollout(state, action[:, None])[:, 0]
