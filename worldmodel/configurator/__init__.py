"""Configurator module."""

from .configurator import Configurator, GoalConfigurator, Task

__all__ = ["Configurator", "GoalConfigurator", "Task"]
