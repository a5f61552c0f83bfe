"""Mode-2 actor: receding-horizon planning by energy minimisation through the world model."""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from worldmodel.cost.base import IntrinsicCost, TaskConfig, assert_immutable
from worldmodel.memory import ShortTermMemory
from worldmodel.world_model import WorldModel

from .base import checked_actions
from .planner import Objective, Planner


class PlanningActor:
    """Plans H actions with any planner, executes the first ``execute`` of them, replans.

    Warm start: the previous plan shifted by the executed actions (or a Mode-1 policy rolled
    through the world model when there is none). The energy of a plan is the intrinsic cost
    of its imagined states, plus ``critic_weight`` x the critic at the last state.
    """

    def __init__(self, world_model: WorldModel, cost: IntrinsicCost, planner: Planner,
                 action_dim: int, execute: int = 1, critic: torch.nn.Module | None = None,
                 critic_weight: float = 1.0, prior=None) -> None:
        assert_immutable(cost)
        if execute < 1:
            raise ValueError(f"execute must be at least 1 action per plan, got {execute}")
        self.world_model, self.cost, self.planner = world_model, cost, planner
        self.action_dim, self.execute = action_dim, execute
        self.critic, self.critic_weight = critic, critic_weight
        self.prior = prior
        self.plan_seconds: list[float] = []
        self.cost_history: list[list[float]] = []
        self.reset()

    def reset(self) -> None:
        self._plan: torch.Tensor | None = None
        self._queue: list[torch.Tensor] = []
        if hasattr(self.planner, "reset"):
            self.planner.reset()

    def select(self, rows: torch.Tensor) -> None:
        """Keep the plans of environments ``rows`` [E'] (indices) only: the others have
        left the batch. A planner that carries state between calls narrows it by its own
        ``select``, or starts afresh (``reset``)."""
        if self._plan is not None:
            self._plan = self._plan[rows.to(self._plan.device)]
        self._queue = [a[rows.to(a.device)] for a in self._queue]
        if hasattr(self.planner, "select"):
            self.planner.select(rows)
        elif hasattr(self.planner, "reset"):
            self.planner.reset()

    def objective(self, state: torch.Tensor, task: TaskConfig) -> Objective:
        """The energy of candidate plans [E, N, H, A] -> [E, N] from latent state [E, D]."""

        def energy(actions: torch.Tensor) -> torch.Tensor:
            E, N, H, A = actions.shape
            flat = actions.reshape(E * N, H, A)
            start = state.repeat_interleave(N, dim=0)
            goal = task.goal.repeat_interleave(N, dim=0)
            states = self.world_model.rollout(start, flat)
            sub = replace(task, goal=goal)
            total = self.cost(states, flat, sub)
            if self.critic is not None and self.critic_weight:
                total = total + self.critic_weight * self.critic(states[:, -1], goal)
            return total.reshape(E, N)

        return energy

    def warm_start(self, state: torch.Tensor, task: TaskConfig) -> torch.Tensor:
        """Initial plan [E, H, A]: the previous plan shifted by the executed actions, its
        last steps the prior's continuation (or zeros); with no previous plan, the prior's
        rollout, or zeros."""
        E, H = state.shape[0], task.horizon
        if self._plan is not None and self._plan.shape[:2] == (E, H):
            kept = self._plan[:, self.execute:]
            return torch.cat([kept, self._continue(state, kept, task)], dim=1)
        if self.prior is not None:
            return self.prior.imagine(self.world_model, state, task.goal, H)
        return torch.zeros(E, H, self.action_dim, device=state.device)

    def _continue(self, state: torch.Tensor, kept: torch.Tensor,
                  task: TaskConfig) -> torch.Tensor:
        """The ``execute`` actions [E, e, A] after the ``kept`` part of the last plan: the
        prior's, from where the world model says ``kept`` leads, or zeros (no prior, or a
        model whose steps do not divide ``kept``)."""
        k = getattr(self.world_model, "frameskip", 1)
        if self.prior is None or kept.shape[1] % k or self.execute % k:
            return torch.zeros_like(self._plan[:, : self.execute])
        with torch.no_grad():
            end = self.world_model.rollout(state, kept)[:, -1] if kept.shape[1] else state
            return self.prior.imagine(self.world_model, end, task.goal, self.execute)

    def act(self, state: torch.Tensor, task: TaskConfig,
            memory: ShortTermMemory | None = None) -> torch.Tensor:
        if self._queue:
            return self._queue.pop(0)
        start = time.perf_counter()  # a prior's warm start is part of the plan's time
        init = self.warm_start(state, task)
        result = self.planner.optimize(self.objective(state, task), init)
        self.plan_seconds.append(time.perf_counter() - start)
        self.cost_history.append(result.history)
        plan = checked_actions(result.actions, type(self.planner).__name__)
        self._plan = plan
        if hasattr(self.planner, "shift"):
            self.planner.shift(self.execute)
        self._queue = [plan[:, t] for t in range(1, min(self.execute, plan.shape[1]))]
        return plan[:, 0]
