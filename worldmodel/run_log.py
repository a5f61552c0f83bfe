"""A training run's log, the same for ``jepa pretrain`` and ``jepa train``: rows appended to
CSV or JSON lines as they come (a run killed outright keeps them), the same scalars to
TensorBoard, the collapse warning, and a plot of the curves at the end."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

NOT_PLOTTED = ("step", "seconds")
NOT_LOSSES = (*NOT_PLOTTED, "lr", "momentum", "rankme", "images_per_s")


class RunLog:
    """Rows of scalars to ``path`` (``.csv``: the columns ``fields``, or those of the
    file's header when it has one; ``.jsonl``: whatever each row holds) and to ``<path's
    folder>/tensorboard``. Appends, so a resumed run continues its log. A context
    manager."""

    def __init__(self, path: Path, fields: Sequence[str] | None = None) -> None:
        if path.suffix not in (".csv", ".jsonl"):
            raise ValueError(f"a run log is .csv or .jsonl, got {path}")
        if path.suffix == ".csv" and not fields:
            raise ValueError("a CSV run log needs its columns (fields)")
        self.path = path
        header = None
        if path.suffix == ".csv" and path.exists() and path.stat().st_size:
            with path.open(newline="") as f:  # a resumed run keeps its log's columns
                header = next(csv.reader(f), None)
        self.file = path.open("a", newline="")
        self.rows = None
        if path.suffix == ".csv":
            self.rows = csv.DictWriter(self.file, header or list(fields), extrasaction="ignore")
            if header is None:
                self.rows.writeheader()
        self.writer = _tensorboard(path.parent / "tensorboard")

    def write(self, row: dict[str, float]) -> None:
        """Append ``row`` (it holds ``step``) and flush; each other scalar to TensorBoard."""
        if self.rows is not None:
            self.rows.writerow(row)
        else:
            self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.writer is not None:
            for key, value in row.items():
                if key not in NOT_PLOTTED and value is not None:
                    self.writer.add_scalar(key, value, row["step"])

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency, but a trimmed install still logs
        return None
    return SummaryWriter(str(folder))


def read_log(path: Path) -> list[dict[str, float]]:
    """The rows of a ``RunLog`` file, as numbers (empty cells dropped)."""
    with path.open() as f:
        if path.suffix == ".csv":
            raw = list(csv.DictReader(f))
        else:
            raw = [json.loads(line) for line in f if line.strip()]
    return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in raw]


def warn_if_collapsing(rank: float, threshold: float, step: int, what: str) -> None:
    """Log a warning when the effective rank (RankMe) of ``what`` falls below ``threshold``."""
    if rank < threshold:
        log.warning("RankMe %.2f < %.2f at step %d: the %s may be collapsing", rank,
                    threshold, step, what)


def warn_if_shrinking(spread: float, floor: float, step: int, objective: str) -> None:
    """Log a warning when the embeddings' spread (their std across the batch, averaged over
    dimensions) falls below ``floor`` under a regulariser that asks for unit spread
    (VICReg, SIGReg). RankMe, which normalises the singular values, cannot see a batch
    shrinking to a point: it read 59 on a SIGReg run collapsed so on Point Room
    (docs/benchmarks.md)."""
    if spread < floor:
        log.warning("embedding spread %.3g < %.3g at step %d: %s asks for 1, so the "
                    "representation may be collapsing to a point", spread, floor, step,
                    objective)


def plot_log(path: Path, out: Path, losses: Sequence[str] | None = None) -> Path:
    """The ``losses`` columns (None: the loss and each of its parts) on a log scale, and
    RankMe, against step -> the figure ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(path)
    if losses is None:
        losses = list(dict.fromkeys(k for r in rows for k in r if k not in NOT_LOSSES))
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key in losses:
        points = [(r["step"], r[key]) for r in rows if r.get(key, 0) > 0]
        if points:
            a.plot(*zip(*points, strict=True), label=key)
    a.set(xlabel="step", ylabel="loss", yscale="log", title="training loss")
    if len(losses) > 1:
        a.legend(fontsize=7)
    ranks = [(r["step"], r["rankme"]) for r in rows if "rankme" in r]
    if ranks:
        b.plot(*zip(*ranks, strict=True))
    b.set(xlabel="step", ylabel="RankMe", title="effective rank")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
