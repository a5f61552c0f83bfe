"""Cost module: intrinsic cost (fixed) + critic (trained)."""

from .base import Critic, IntrinsicCost, TaskConfig, assert_immutable
from .critic import MLPCritic, train_critic
from .intrinsic import ActionMagnitude, BoxConstraint, GoalDistance, WeightedSum

__all__ = [
    "ActionMagnitude", "BoxConstraint", "Critic", "GoalDistance", "IntrinsicCost", "MLPCritic",
    "TaskConfig", "WeightedSum", "assert_immutable", "train_critic",
]
