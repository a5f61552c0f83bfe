"""Time per planning call as the number of candidates and the horizon grow.

    python bench/planner_scaling.py [--out bench_results/planner_scaling]

CEM (10 iterations, top-10%) on the reference residual MLP world model of
``peer_planners.py`` (latent 128, hidden 512), rollouts in the precision ``jepa plan``
picks on this CPU (bf16, int8 hidden layers or fp32), one environment. Writes
``scaling.json`` and ``scaling.png`` (ms per call against candidates, one line per horizon).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import malloc_flag
import torch
from peer_planners import auto_precision, make_problem, project_planner

CANDIDATES = (50, 100, 300, 1000, 3000)
HORIZONS = (4, 8, 16, 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_results/planner_scaling"))
    args = malloc_flag.parse_args(parser)
    model, z0, goal = make_problem()
    precision = auto_precision()
    rows = []
    for horizon in HORIZONS:
        for n in CANDIDATES:
            plan = project_planner("cem", model, z0, goal, precision, samples=n,
                                   elites=max(2, n // 10), horizon=horizon)
            plan()  # oneDNN plans its kernels for these shapes
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                plan()
                times.append(time.perf_counter() - start)
            ms = 1000 * statistics.median(times)
            rows.append({"horizon": horizon, "candidates": n, "precision": precision,
                         "ms_per_call": round(ms, 1),
                         "candidate_steps_per_s": round(n * horizon * 10 / ms * 1000)})
            print(json.dumps(rows[-1]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(rows, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for horizon in HORIZONS:
        pts = [r for r in rows if r["horizon"] == horizon]
        ax.plot([r["candidates"] for r in pts], [r["ms_per_call"] for r in pts], "o-",
                label=f"horizon {horizon}")
    ax.set(xscale="log", yscale="log", xlabel="candidates", ylabel="ms per planning call",
           title=f"CEM, 10 iterations, residual MLP ({precision})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "scaling.png", dpi=110)
    print(f"wrote {args.out / 'scaling.png'}")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
