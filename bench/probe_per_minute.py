"""Probe R^2 per CPU-minute: I-JEPA against pixel reconstruction (MAE) and a random encoder.

    python bench/probe_per_minute.py [--minutes 3]

The papers' central claim, checked here at equal compute: the same ViT-tiny pretrained for
the same wall-clock minutes on the same Two Rooms frames by predicting representations
(I-JEPA, EMA target) or pixels (MAE), then frozen and probed (linear and MLP R^2 of the
agent's position on held-out episodes). Collects its own data.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from worldmodel.cli import main as jepa


def stage(args: list[str]) -> None:
    quiet = [] if args[0] == "probe" else ["progress=false"]  # probe has no progress bar
    if jepa([*args, *quiet]):
        raise SystemExit(f"jepa {' '.join(args)} failed")


def probe(checkpoint: str, data: Path, out: Path) -> dict:
    stage(["probe", f"checkpoint={checkpoint}", f"data={data}", "max_frames=4000",
           "mlp_steps=500", "state_dims=[0,1]", f"out={out}"])
    return json.loads((out / "probe.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("bench_results/probe"))
    args = parser.parse_args()
    os.environ.setdefault("TMPDIR", str(args.out))
    data = args.out / "data"
    if not data.exists():
        stage(["collect", "episodes=400", f"out={data}", "preview=0"])
    rows = [{"encoder": "random ViT-tiny", "minutes": 0.0,
             **probe("random", data, args.out / "probe-random")}]
    for method in ("ijepa", "mae"):
        run = args.out / method
        if not (run / "last.pt").exists():
            stage(["pretrain", f"data={data}", f"method={method}", "model=tiny",
                   "frames=1", "tubelet=1",  # images, as I-JEPA (mae's default is video)
                   f"max_minutes={args.minutes}", f"out={run}"])
        with (run / "log.csv").open() as f:  # training minutes, as the run logged them
            minutes = float(list(csv.DictReader(f))[-1]["seconds"]) / 60
        rows.append({"encoder": f"{method} ViT-tiny", "minutes": round(minutes, 2),
                     **probe(str(run / "last.pt"), data, args.out / f"probe-{method}")})
    for row in rows:
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                          for k, v in row.items() if not isinstance(v, (list, dict))}))
    (args.out / "probe_per_minute.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
