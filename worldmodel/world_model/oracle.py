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
    [-1, 1], mapped to the actuators' control range and held for ``frame_skip`` steps."""

    differentiable = False

    def __init__(self, model, frame_skip: int, nthread: int | None = None) -> None:
        import mujoco
        from mujoco import rollout

        self._mujoco, self._rollout = mujoco, rollout
        self.model = model
        self.frame_skip = frame_skip
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
        return cls(sim.model, int(getattr(sim, "frame_skip", 1)))

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
        ctrl = np.repeat(ctrl, self.frame_skip, axis=1)  # [B, H * frame_skip, nu]
        full, _ = self._rollout.rollout(self.model, self._data, self._full_state(s), ctrl)
        full = full[:, self.frame_skip - 1 :: self.frame_skip]  # after each action
        # Full physics state = [time, qpos, qvel, act, ...]
        qpos = full[..., 1 : 1 + self.nq]
        qvel = full[..., 1 + self.nq : 1 + self.nq + self.nv]
        out = np.concatenate([qpos, qvel], axis=-1)
        return torch.as_tensor(out, dtype=torch.float32, device=state.device)

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.rollout(state, action[:, None])[:, 0]
