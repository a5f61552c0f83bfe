"""Short-term memory module."""

from .short_term import ShortTermMemory

__all__ = ["ShortTermMemory"]
