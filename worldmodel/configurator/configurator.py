"""Configurator: executive control that turns a task into settings for the other modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

from worldmodel.cost.base import TaskConfig
from worldmodel.perception import Perception


@dataclass
class Task:
    """What is asked: a goal observation per environment, and how to go about it."""

    goal_observation: torch.Tensor  # [E, ...] what the perception reads (pixels or state)
    weights: dict[str, float] = field(default_factory=dict)  # cost term name -> weight
    horizon: int | None = None
    mode: int | None = None  # 1: reactive policy, 2: planning
    budget: int | None = None  # step budget of the episode


@runtime_checkable
class Configurator(Protocol):
    def configure(self, task: Task, perception: Perception) -> TaskConfig:
        """task -> settings (goal latent [E, D], cost weights, horizon, mode)."""
        ...


@dataclass
class GoalConfigurator:
    """Encodes the goal observation with the perception module; fills what the task leaves
    open from its defaults."""

    weights: dict[str, float] = field(default_factory=lambda: {"goal": 1.0})
    horizon: int = 20
    mode: int = 2

    def configure(self, task: Task, perception: Perception) -> TaskConfig:
        with torch.no_grad():
            goal = perception.encode(task.goal_observation)
        mode = task.mode or self.mode
        if mode not in (1, 2):
            raise ValueError(f"mode must be 1 (reactive policy) or 2 (planning), got {mode}")
        return TaskConfig(goal=goal, weights={**self.weights, **task.weights},
                          horizon=task.horizon or self.horizon, mode=mode)
