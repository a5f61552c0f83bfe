"""The step loop both trainers share: step, tick the clock, log, checkpoint, stop.

``jepa pretrain`` and ``jepa train`` differ in what a step is and what a log row holds; when
to log, when to checkpoint and when to stop (the data ends, the clock's budget is spent, a
stop signal arrives: on every process at the same step) is this one loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from worldmodel.distributed import global_max
from worldmodel.jepa.checkpoint import (
    CheckpointError,
    check_same_run,
    load,
    load_matching,
    save_atomic,
)
from worldmodel.jepa.schedules import Progress
from worldmodel.stop_signal import StopSignal


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message says what to do."""


class RunCheckpoint:
    """A run's ``last.pt``: weights, optimiser, step and clock, written atomically, plus what
    the trainer adds (its config under ``config_key``, the data's description).

    A new run refuses to overwrite it; ``resume=true`` restores from it, refusing a
    checkpoint made with other values of ``resume_keys`` (the run would silently change
    course)."""

    def __init__(self, path: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 clock: Progress, config_key: str, resume_keys: tuple[str, ...],
                 before: Mapping[str, Any] | None = None) -> None:
        self.path, self.module, self.optimizer, self.clock = path, module, optimizer, clock
        self.config_key, self.resume_keys = config_key, resume_keys
        self.before = before  # resume keys' values in checkpoints made before they existed
        # what the trainer added to the checkpoint it resumed from (``save``'s ``extra``)
        self.restored: dict[str, Any] = {}

    def save(self, step: int, config: dict[str, Any], extra: dict[str, Any]) -> None:
        """Write it; never over a good checkpoint with NaN or infinite weights."""
        if not all(torch.isfinite(p).all() for p in self.module.parameters()):
            raise TrainingError(
                f"the weights became NaN or infinite before step {step}; the last good "
                f"checkpoint {self.path} is intact. Lower lr (or raise warmup), then "
                "resume=true")
        save_atomic({self.config_key: config, **extra, "step": step,
                     **self.clock.state_dict(), "model": self.module.state_dict(),
                     "optimizer": self.optimizer.state_dict()}, self.path)

    def start(self, resume: bool, config: dict[str, Any], device: torch.device) -> int:
        """The step a run with ``config`` starts from: 0 for a new run, the checkpoint's
        (weights, optimiser and clock restored) with ``resume``."""
        if not resume:
            if self.path.exists():
                raise CheckpointError(f"{self.path} exists: pass resume=true to continue that "
                                      "run, or choose another out=")
            return 0
        if not self.path.exists():
            raise CheckpointError(f"resume=true but there is no checkpoint at {self.path}; "
                                  "drop resume=true to start a new run")
        ckpt = load(self.path, map_location=device)
        check_same_run(ckpt[self.config_key], config, self.resume_keys, self.path, self.before)
        load_matching(self.module, ckpt["model"], f"checkpoint {self.path}")
        # The checkpoint gives the optimiser's moments; the settings stay the ones this run
        # asks for (load_state_dict would bring back the saved eps or a constant decay).
        asked = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(ckpt["optimizer"])
        for group, settings in zip(self.optimizer.param_groups, asked, strict=True):
            group.update(settings)
        self.clock.load_state_dict(ckpt)
        own = {self.config_key, "step", "model", "optimizer", *self.clock.state_dict()}
        self.restored = {k: v for k, v in ckpt.items() if k not in own}
        return int(ckpt["step"])


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
