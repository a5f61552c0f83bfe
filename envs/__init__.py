"""The project's environments, registered with Gymnasium under the ``worldmodel/`` namespace.

Importing this package registers them (registration only records entry points; nothing is
built or rendered). ``gymnasium.make("worldmodel/TwoRooms-v0")`` then works as usual.
"""

from __future__ import annotations

import gymnasium as gym

from .goal_env import GoalEnv
from .layout import TwoRoomsLayout
from .point_room import PointRoomEnv
from .two_rooms import TwoRoomsEnv

__all__ = ["GoalEnv", "PointRoomEnv", "TwoRoomsEnv", "TwoRoomsLayout", "register_all"]


def register_all() -> None:
    """Register every environment of the project (idempotent)."""
    from . import goal_pixels, point_room, two_rooms

    for module in (two_rooms, point_room, goal_pixels):
        module.register()


if "worldmodel/TwoRooms-v0" not in gym.registry:
    register_all()
