"""Training schedules as tiny objects: ``value = schedule(step)``."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
