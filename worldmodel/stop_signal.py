"""Ctrl-C or SIGTERM during training: finish the step, checkpoint, then stop.

A scheduler's pre-emption, ``kill``, ``timeout`` and torchrun (which forwards SIGINT and
SIGTERM to every worker and kills them 30 s later) would otherwise lose every step since
the last periodic checkpoint. With ``StopSignal`` around the loop the trainer asks
``requested()`` after each step, saves and returns; ``resume=true`` carries on from there.
A second Ctrl-C stops at once (KeyboardInterrupt), for a step that hangs.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal:
    """Context manager that turns SIGINT/SIGTERM into a request to stop after the step.

    A signal the process was started ignoring (``nohup``, a background job of a script)
    stays ignored. Outside the main thread, where Python cannot install handlers, signals
    keep their usual effect."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, object] = {}

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: stop now, without a checkpoint
        self.received = signal.Signals(signum)
        log.warning("%s received: stopping after this step with a checkpoint (resume=true "
                    "continues; Ctrl-C again stops at once)", self.received.name)

    def requested(self, agree: Callable[[float], float] = float) -> bool:
        """Whether to stop now. ``agree`` settles it between processes (the largest: one
        signalled process stops them all at the same step); a collective under torchrun,
        so every process must call this after every step."""
        return agree(float(self.received is not None)) > 0


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: Ctrl-C reaches the terminal's whole process group and
    torchrun signals its workers' groups, and a loader worker that died of it would fail the
    step the trainer is finishing. Workers still end with the trainer: PyTorch's loader
    shuts them down, and they exit by themselves when their parent is gone."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
