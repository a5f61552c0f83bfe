"""The step loop both trainers share: step, tick the clock, log, checkpoint, stop.

``jepa pretrain`` and ``jepa train`` differ in what a step is and what a log row holds; when
to log, when to checkpoint and when to stop (the data ends, the clock's budget is spent, a
stop signal arrives: on every process at the same step) is this one loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from worldmodel.distributed import global_max
from worldmodel.jepa.schedules import Progress
from worldmodel.stop_signal import StopSignal


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message says what to do."""


def check_finite_weights(module: torch.nn.Module, step: int, last: Path) -> None:
    """Raise before a checkpoint would overwrite the last good one with NaN or inf weights."""
    if not all(torch.isfinite(p).all() for p in module.parameters()):
        raise TrainingError(
            f"the weights became NaN or infinite before step {step}; the last good checkpoint "
            f"{last} is intact. Lower lr (or raise warmup), then resume=true")


@runtime_checkable
class Steps(Protocol):
    """A training run as the loop drives it."""

    step: int  # optimiser steps taken, over resumes
    clock: Progress

    def loader(self) -> Iterable[Any]:
        """Batches from ``step`` on."""
        ...

    def train_step(self, batch: Any) -> dict[str, float]:
        """One optimiser step (``step`` += 1) -> what to log of it."""
        ...

    def after_step(self, batch: Any, metrics: dict[str, float], log_row: bool) -> None:
        """Progress bar, and a log row when ``log_row``."""
        ...

    def save(self) -> None:
        """Checkpoint atomically."""
        ...


def run_steps(run: Steps, log_every: int, save_every: int) -> str | None:
    """Train until the data, the clock or a stop signal ends the run, checkpointing every
    ``save_every`` steps and at the end -> the name of the signal that stopped it, if any."""
    clock = run.clock
    # The loader first: what it does up front (the frozen recipe encodes every frame) is
    # not training time on the clock.
    batches = [] if clock.spent(clock.seconds, 0.0) else run.loader()
    clock.begin()
    with StopSignal() as signals:
        for batch in batches:
            metrics = run.train_step(batch)
            # the largest clock over processes: every process stops at the same step
            stop = clock.tick(global_max)
            stop = signals.requested(global_max) or stop
            last = clock.by_steps and run.step == clock.steps
            run.after_step(batch, metrics, log_row=run.step % log_every == 0 or last)
            if run.step % save_every == 0:
                run.save()
            if stop:
                break
        run.save()
    return signals.received.name if signals.received is not None else None
