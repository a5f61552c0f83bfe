"""Cost module: intrinsic cost (fixed) + critic (trained)."""

from .base import Critic, IntrinsicCost, TaskConfig, assert_immutable
from .critic import MLPCritic, critic_targets, fit_critic, train_critic
from .intrinsic import ActionMagnitude, BoxConstraint, GoalDistance, WeightedSum

__all__ = [
    "ActionMagnitude", "BoxConstraint", "Critic", "GoalDistance", "IntrinsicCost", "MLPCritic",
    "TaskConfig", "WeightedSum", "assert_immutable", "critic_targets",
    "fit_critic", "train_critic",
]
