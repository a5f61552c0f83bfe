"""Run every benchmark script in turn (`make bench`, about 30 minutes on 2 cores); figures go
to docs/benchmarks.md by hand, each with its command, machine and date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = [
    "collect_speed.py",  # frames/s per environment
    "pretrain_speed.py",  # I-JEPA step against the reference's step and a supervised step
    "pretrain_step_parts.py",  # the same two steps, part by part: time, flops, GFLOP/s
    "probe_per_minute.py",  # probe R^2 per CPU-minute: I-JEPA, MAE, random
    "precision.py",  # bf16 against fp32: what bf16=null picks on this CPU
    "rollout_speed.py",  # candidate-steps/s per predictor
    "peer_planners.py",  # against TorchRL's CEMPlanner / MPPIPlanner (when installed)
    "planner_scaling.py",  # time per plan against candidates and horizon
    "plan_shipped.py",  # success from pixels on the shipped checkpoints, over seeds
    "planners_learned.py",  # every planner on the same learned Reacher model
    "plan_ranking.py",  # does the shipped model rank plans as the simulator does
    "mode1_vs_mode2.py",  # the distilled policy against planning
    "correction.py",  # world-model correction on a changed world
    "ddp_throughput.py",  # 1 against 2 torchrun processes
]


def main() -> None:
    for script in SCRIPTS:
        print(f"== {script}", flush=True)
        subprocess.run([sys.executable, str(HERE / script)], check=True)


if __name__ == "__main__":
    main()
