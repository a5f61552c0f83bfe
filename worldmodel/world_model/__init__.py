"""World model module: latent dynamics (learned predictors and oracles)."""

from .base import ModuleWorldModel, StepRollout, WorldModel
from .oracle import MujocoOracle, TwoRoomsOracle

__all__ = ["ModuleWorldModel", "MujocoOracle", "StepRollout", "TwoRoomsOracle", "WorldModel"]
