"""The Agent wires the six modules: perceive -> configure -> act -> remember, step by step.

Batched over E parallel environments: observations arrive as arrays [E, ...] and actions
leave as [E, A]. An environment whose episode has ended leaves the batch: from then on it
is neither perceived nor planned for (in a batch of ten, about a third of the planning went
to finished episodes waiting for the slowest). Nothing here knows how a module is
implemented.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from tensordict import TensorDict

from worldmodel.actor import Actor
from worldmodel.configurator import Configurator, Task
from worldmodel.cost.base import IntrinsicCost, TaskConfig
from worldmodel.memory import ShortTermMemory
from worldmodel.perception import Perception
from worldmodel.perception.history import FrameHistory
from worldmodel.world_model import WorldModel


class Agent:
    """LeCun's six modules around one loop."""

    def __init__(self, configurator: Configurator, perception: Perception,
                 world_model: WorldModel, cost: IntrinsicCost, actor: Actor,
                 memory: ShortTermMemory, device: str | torch.device = "cpu") -> None:
        self.configurator, self.perception = configurator, perception
        self.world_model, self.cost, self.actor, self.memory = world_model, cost, actor, memory
        self.device = torch.device(device)
        self.task: TaskConfig | None = None
        self._episode = torch.zeros(0, dtype=torch.int64)
        self._acting = np.zeros(0, dtype=bool)  # [E]: which environments of the batch still act
        self._action_dim: int | None = getattr(actor, "action_dim", None)
        self._tau = 0
        self._episodes_started = 0
        self._obs_shape: tuple[int, ...] | None = None
        # A perception that reads k frames gets the last k observations, stacked.
        self._history = FrameHistory(getattr(perception, "frames", 1))

    @property
    def _rows(self) -> np.ndarray:
        """Indices into the batch of the environments still acting."""
        return np.flatnonzero(self._acting)

    def _tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), device=self.device)

    def perceive(self, observation: dict) -> torch.Tensor:
        """The observations of the batch (arrays [E, ...]) -> latent states [E', D] of the
        E' environments still acting."""
        key = self.perception.observation_key
        if key not in observation:
            raise KeyError(f"the perception reads observation[{key!r}], which is missing")
        obs = self._tensor(observation[key])
        if obs.shape[0] != len(self._acting):
            raise ValueError(f"observation {key!r} holds {obs.shape[0]} environments, the "
                             f"batch started by reset() {len(self._acting)}: pass one row per "
                             "environment of the batch (finished ones too, flagged inactive)")
        if not self._acting.all():
            obs = obs[torch.as_tensor(self._rows, device=obs.device)]
        if self._obs_shape is not None and tuple(obs.shape[1:]) != self._obs_shape:
            raise ValueError(f"observation {key!r} has shape {tuple(obs.shape[1:])}, the goal "
                             f"had {self._obs_shape}")
        if self._history.k > 1:
            obs = self._history.push(obs)
        with torch.no_grad():
            return self.perception.encode(obs)

    def reset(self, goal_observation: np.ndarray | torch.Tensor, **task: object) -> TaskConfig:
        """Start episodes in E environments towards their goals (what the perception reads)."""
        goal_obs = self._tensor(goal_observation)
        self._obs_shape = tuple(goal_obs.shape[1:])
        self.task = self.configurator.configure(Task(goal_observation=goal_obs, **task),
                                                self.perception)
        E = goal_obs.shape[0]
        self._check_fit(self.task.goal)
        self._episode = self._episodes_started + torch.arange(E)
        self._episodes_started += E
        self._acting = np.ones(E, dtype=bool)
        self._tau = 0
        self._history.clear()
        self.actor.reset()
        return self.task

    def _check_fit(self, goal: torch.Tensor) -> None:
        """The world model must map the perception's latents to latents of the same shape."""
        A = getattr(self.actor, "action_dim", None)
        if A is None:
            return
        with torch.no_grad():
            k = getattr(self.world_model, "frameskip", 1)
            out = self.world_model.rollout(goal[:1], torch.zeros(1, k, A, device=goal.device))
        if tuple(out.shape[2:]) != tuple(goal.shape[1:]):
            raise ValueError(
                f"the world model predicts states of shape {tuple(out.shape[2:])} but the "
                f"perception gives {tuple(goal.shape[1:])}: they do not fit together (train the "
                "world model on this encoder, or pick the matching checkpoint)"
            )

    def step(self, observation: dict, active: np.ndarray | None = None) -> np.ndarray:
        """One control step for every environment -> actions [E, A] (numpy, in [-1, 1]).

        ``active`` [E] bool: the environments that will take their action (None: all). An
        environment once inactive has left the batch until the next ``reset``: it is not
        perceived, planned for or remembered, and its row of actions is zeros."""
        if self.task is None:
            raise RuntimeError("call Agent.reset(goal_observation) before step()")
        if active is not None:
            self._leave(np.asarray(active, dtype=bool))
        rows = self._rows
        if not len(rows):
            return np.zeros((len(self._acting), self._action_dim or 0), dtype=np.float32)
        state = self.perceive(observation)
        planned = self.actor.act(state, self.task, self.memory)
        self.remember(state, planned)
        self._tau += 1
        action = planned.detach().cpu().numpy()
        self._action_dim = action.shape[1]
        if len(rows) == len(self._acting):
            return action
        out = np.zeros((len(self._acting), action.shape[1]), dtype=action.dtype)
        out[rows] = action
        return out

    def _leave(self, active: np.ndarray) -> None:
        """Drop the environments no longer ``active`` [E] from the batch: their goals, frame
        histories, episode ids and the actor's plans for them (an actor without ``select``
        starts its plans afresh)."""
        if active.shape != self._acting.shape:
            raise ValueError(f"active has shape {active.shape}, the batch started by reset() "
                             f"{self._acting.shape}: one flag per environment")
        rejoining = np.flatnonzero(active & ~self._acting)
        if len(rejoining):
            raise ValueError(f"environments {rejoining.tolist()} finished earlier and cannot "
                             "rejoin the batch: call reset() to start new episodes")
        if (active == self._acting).all():
            return
        keep = torch.as_tensor(np.flatnonzero(active[self._rows]))
        self._acting = active.copy()
        self.task = replace(self.task, goal=self.task.goal[keep.to(self.task.goal.device)])
        self._episode = self._episode[keep]
        self._history.select(keep)
        select = getattr(self.actor, "select", None)
        if select is not None:
            select(keep)
        else:
            self.actor.reset()

    def remember(self, state: torch.Tensor, action: torch.Tensor) -> None:
        """Write (tau, s_tau, a_tau, IC(s_tau)) of every environment still acting to the
        memory. state [E', D], action [E', A]."""
        with torch.no_grad():
            ic = self.cost(state[:, None], torch.zeros_like(action)[:, None], self.task)
        E = state.shape[0]
        rows = TensorDict({
            "episode": self._episode, "tau": torch.full((E,), self._tau),
            "state": state.cpu(), "action": action.detach().cpu(), "goal": self.task.goal.cpu(),
            "cost": ic.float().cpu(), "imagined": torch.zeros(E, dtype=torch.bool),
        }, batch_size=[E])
        self.memory.write(rows)
