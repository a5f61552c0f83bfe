"""Typed configuration shared by the stages: plain dataclasses that Hydra's YAML fills in.

Each ``jepa`` sub-command composes its YAML, then merges it into its dataclass schema, so
an unknown key or a wrong type is an error at start-up, not a KeyError deep in a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EnvConfig:
    """An environment of the ``worldmodel/`` namespace (or any Gymnasium id that fits)."""

    name: str = "two_rooms"
    id: str = "worldmodel/TwoRooms-v0"
    kwargs: dict[str, Any] = field(default_factory=dict)
    episode_length: int = 100
    num_envs: int = 8
    vectorization: str = "sync"  # sync | async (one process per env: for slow simulators)
    budget: int = 100  # step budget of an evaluation episode
    horizon: int | None = None  # planning horizon the task asks for (None: configurator's)

    def __post_init__(self) -> None:
        check_ranges(self, positive=("episode_length", "num_envs", "budget"), group="env")
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"env.horizon must be positive (or null), got {self.horizon}")


def check_env(env: EnvConfig) -> None:
    """Refuse an unregistered ``env.id``, or ``env.kwargs`` that the environment's
    constructor does not take, naming what would do (``gym.make`` fails with a TypeError
    deep in its registry). Environments that take any keyword (``**kwargs``) are not
    checked. Import ``worldmodel.envs`` first: it registers this project's ids."""
    import inspect

    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    if env.id not in gym.registry:
        raise ValueError(
            f"unknown environment id {env.id!r}; registered ids of this project: "
            f"{sorted(k for k in gym.registry if k.startswith('worldmodel/'))} (`jepa envs`)"
        )
    spec = gym.spec(env.id)
    creator = spec.entry_point
    if not callable(creator):
        creator = load_env_creator(creator)
    params = inspect.signature(creator).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(env.kwargs) - set(params))
    if unknown:
        raise ValueError(f"env.kwargs: {env.id} takes no {', '.join(map(repr, unknown))}; "
                         f"its settings are {', '.join(params)} (set one as "
                         "env.kwargs.<name>=<value>)")


def check_ranges(cfg: Any, positive: tuple[str, ...] = (), non_negative: tuple[str, ...] = (),
                 unit: tuple[str, ...] = (), group: str = "") -> None:
    """Raise ValueError naming the first of ``cfg``'s numeric fields outside its range
    (``unit``: within [0, 1]): a zero batch, a negative learning rate or a planner with no
    samples fails at start-up with the key to change, not deep in a loop. ``group``
    prefixes the key as the command line spells it (``env``: ``env.budget``)."""
    where = f"{group}." if group else ""
    for name in positive:
        if not getattr(cfg, name) > 0:
            raise ValueError(f"{where}{name} must be positive, got {getattr(cfg, name)}")
    for name in non_negative:
        if not getattr(cfg, name) >= 0:
            raise ValueError(f"{where}{name} must be zero or more, got {getattr(cfg, name)}")
    for name in unit:
        if not 0 <= getattr(cfg, name) <= 1:
            raise ValueError(f"{where}{name} must be within [0, 1], got {getattr(cfg, name)}")


def pick_device(name: str = "auto") -> str:
    """``auto``: CUDA when present, else CPU; otherwise the name as given."""
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
