"""Perception module: observations -> latent state."""

from .base import Perception
from .state import StatePerception

__all__ = ["Perception", "StatePerception"]
