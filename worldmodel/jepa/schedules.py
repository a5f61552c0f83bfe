"""Training schedules as tiny objects: ``value = schedule(step)``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warmup from ``start`` to ``peak`` over ``warmup`` steps, then cosine to ``end``."""

    peak: float
    total: int
    warmup: int = 0
    start: float = 0.0
    end: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.start + (self.peak - self.start) * step / max(1, self.warmup)
        t = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.end + (self.peak - self.end) * 0.5 * (1 + math.cos(math.pi * t))


@dataclass(frozen=True)
class Linear:
    """From ``start`` to ``end`` linearly over ``total`` steps (EMA momentum 0.996 -> 1)."""

    start: float
    end: float
    total: int

    def __call__(self, step: int) -> float:
        return self.start + (self.end - self.start) * min(1.0, step / max(1, self.total))


@dataclass(frozen=True)
class Cosine:
    """From ``start`` to ``end`` along a half cosine (the weight-decay schedule)."""

    start: float
    end: float
    total: int

    def __call__(self, step: int) -> float:
        t = min(1.0, step / max(1, self.total))
        return self.end + (self.start - self.end) * 0.5 * (1 + math.cos(math.pi * t))


@dataclass
class Progress:
    """Where a run stands in its schedules: by steps, or by a wall-clock budget.

    ``at(step, seconds)`` -> (position of the learning rate, position of every other
    schedule), in units of ``total``: steps, or with a budget ``SCALE`` positions spread over
    it. With a budget, warmup still counts steps (it steadies the optimiser's first
    updates), then the learning rate's decay spans the time left after warmup and the other
    schedules span the whole budget, so all of them end when the budget does.
    """

    steps: int
    warmup: int
    limit: float = 0.0  # seconds: of this run by steps, of training over resumes by minutes
    by_steps: bool = True
    warmup_seconds: float | None = None  # when warmup ended (with a budget)
    seconds: float = 0.0  # training wall-clock so far, over resumes
    this_run: float = field(default=0.0, init=False)  # of it, since ``begin``
    _started: float = field(default=0.0, init=False, repr=False)
    _before: float = field(default=0.0, init=False, repr=False)  # seconds at ``begin``
    SCALE: ClassVar[int] = 1_000_000

    @classmethod
    def of(cls, schedule: str, steps: int, warmup: int, max_minutes: float) -> Progress:
        """``schedule=steps|minutes`` and ``max_minutes`` (0: none) of a training config."""
        if schedule not in ("steps", "minutes"):
            raise ValueError(f"schedule must be steps or minutes, got {schedule!r}")
        if schedule == "minutes" and max_minutes <= 0:
            raise ValueError("schedule=minutes runs the schedules over max_minutes of "
                             "wall-clock; give it a budget, e.g. max_minutes=15")
        return cls(steps, warmup, 60.0 * max_minutes, by_steps=schedule == "steps")

    @property
    def total(self) -> int:
        """The length the schedules are built with."""
        return self.steps if self.by_steps else self.SCALE

    @property
    def last_step(self) -> int:
        """Where the data sampler stops: ``steps``, or never (the clock ends the run)."""
        return self.steps if self.by_steps else 10**12

    def at(self, step: int, seconds: float) -> tuple[float, float]:
        if self.by_steps:
            return step, step
        done = min(1.0, seconds / self.limit)
        if step < self.warmup:
            return step, done * self.SCALE
        if self.warmup_seconds is None:
            self.warmup_seconds = seconds
        rest = max(self.limit - self.warmup_seconds, 1e-9)
        after = min(1.0, max(0.0, (seconds - self.warmup_seconds) / rest))
        return self.warmup + after * (self.SCALE - self.warmup), done * self.SCALE

    def state_dict(self) -> dict[str, float | None]:
        """What a checkpoint keeps for a resume to continue the clock."""
        return {"seconds": self.seconds, "warmup_seconds": self.warmup_seconds}

    def load_state_dict(self, ckpt: dict) -> None:
        """The clock of a checkpoint (one saved before the clock was: zero)."""
        self.seconds = float(ckpt.get("seconds", 0.0))
        self.warmup_seconds = ckpt.get("warmup_seconds")

    def begin(self) -> None:
        """Start this run's clock."""
        self._started, self._before, self.this_run = time.perf_counter(), self.seconds, 0.0

    def tick(self, agree: Callable[[float], float] = float) -> bool:
        """After a step: advance the clock by this run's wall-clock, as ``agree`` settles it
        between processes (e.g. the largest, so all stop at the same step) -> whether to
        stop. With no time limit nothing depends on it, and ``agree`` (a collective per
        step under torchrun) is skipped."""
        elapsed = time.perf_counter() - self._started
        self.this_run = agree(elapsed) if self.limit else elapsed
        self.seconds = self._before + self.this_run
        return self.spent(self.seconds, self.this_run)

    def spent(self, seconds: float, this_run: float) -> bool:
        """Whether to stop, given the training seconds over resumes and those of this run."""
        if self.by_steps:
            return bool(self.limit) and this_run >= self.limit
        return seconds >= self.limit
