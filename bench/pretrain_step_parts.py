"""Where the I-JEPA step's time goes, part by part, beside a supervised step's parts.

    python bench/pretrain_step_parts.py [--steps 32] [--repeats 2] [--fixed-shapes]

The configuration of `bench/pretrain_speed.py` (ViT dim 192, depth 6, batch 64, predictor
width 96 and depth 4, 4 target blocks), in fp32. The I-JEPA step is cut where its work
changes hands: the target encoder's pass, the context encoder's forward, the predictor's
forward and loss, the predictor's backward (to the context encoder's outputs), the context
encoder's backward, and the optimiser with the EMA update; the supervised step into
forward, backward and optimiser. Each part's flops come from `torch.utils.flop_counter`
over the same mask draws, so each part's GFLOP/s shows which part runs its arithmetic
slower than the supervised step does. ``if_at_supervised_rate`` is the time ratio the step
would reach were a part as fast per flop as the supervised step (the others unchanged).

The parts run the same computation as `JEPA.forward` with one mask set and an EMA target,
split so that each can be timed: the context encoder's outputs are detached before the
predictor and their gradient passed back by hand.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from contextlib import contextmanager

import malloc_flag
import torch.nn.functional as F
from flops import flop_counter
from pretrain_speed import setup

from worldmodel.jepa.objectives import prediction_loss
from worldmodel.jepa.vit import VisionTransformer


class PartClock:
    """Seconds and (when ``counting``) flops summed per named part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.flops: dict[str, float] = defaultdict(float)
        self.counting = False

    @contextmanager
    def __call__(self, part: str):
        if self.counting:
            with flop_counter() as counter:
                yield
            self.flops[part] += counter.get_total_flops()
            return
        start = time.perf_counter()
        yield
        self.seconds[part] += time.perf_counter() - start


def measure(steps: int, repeats: int, fixed_shapes: bool, batch: int = 64) -> dict:
    """Per part: ms and GFLOP per step, GFLOP/s, and the step ratio were that part as fast
    per flop as the supervised step; both steps' totals and their time ratio."""
    s = setup(batch, fixed_shapes, steps)
    jepa, clock = s.jepa, PartClock()

    def ijepa_step(draw: int) -> None:
        ctx, tgt = s.drawn[draw]
        with clock("ijepa: target pass"):
            pixels = VisionTransformer.normalise(s.x)
            target = jepa.target_representations(pixels, [tgt.reshape(batch, -1)])[0]
        with clock("ijepa: context encoder forward"):
            z_graph = jepa.context_encoder(pixels, keep=ctx)
        z = z_graph.detach().requires_grad_()
        with clock("ijepa: predictor forward and loss"):
            pred = jepa.predictor(z, ctx, tgt).reshape(batch, target.shape[1], -1)
            loss = prediction_loss(pred, target, jepa.cfg.loss)
        s.opt.zero_grad(set_to_none=True)
        with clock("ijepa: predictor backward"):
            loss.backward()
        with clock("ijepa: context encoder backward"):
            z_graph.backward(z.grad)
        with clock("ijepa: optimiser and EMA"):
            s.opt.step()
            jepa.update_target(0.996)

    def supervised_step(draw: int) -> None:
        with clock("supervised: forward"):
            loss = F.cross_entropy(s.head(s.encoder(s.x).mean(1)), s.y)
        s.sup_opt.zero_grad(set_to_none=True)
        with clock("supervised: backward"):
            loss.backward()
        with clock("supervised: optimiser"):
            s.sup_opt.step()

    clock.counting = True
    for draw in range(steps):
        ijepa_step(draw)
        supervised_step(draw)
    clock.counting = False
    for draw in range(min(4, steps)):  # warm-up
        ijepa_step(draw)
        supervised_step(draw)
    clock.seconds.clear()
    for _ in range(repeats):  # the two kinds alternate step by step: one host load for both
        for draw in range(steps):
            ijepa_step(draw)
            supervised_step(draw)
    n = steps * repeats
    total = {kind: sum(t for part, t in clock.seconds.items() if part.startswith(kind)) / n
             for kind in ("ijepa", "supervised")}
    sup_flops = sum(f for part, f in clock.flops.items() if part.startswith("supervised")) / steps
    sup_rate = sup_flops / total["supervised"]
    parts = {}
    for part, seconds in clock.seconds.items():
        t, flops = seconds / n, clock.flops[part] / steps
        row = {"ms": round(1000 * t, 1), "gflop": round(flops / 1e9, 2),
               "gflop_per_s": round(flops / t / 1e9, 1) if flops else None}
        if part.startswith("ijepa") and flops:
            row["if_at_supervised_rate"] = round(
                (total["ijepa"] - t + flops / sup_rate) / total["supervised"], 3)
        parts[part] = row
    ijepa_flops = sum(f for part, f in clock.flops.items() if part.startswith("ijepa")) / steps
    return {"masks": "fixed shapes" if fixed_shapes else "shapes drawn per step",
            "parts": parts, "ijepa_ms": round(1000 * total["ijepa"], 1),
            "supervised_ms": round(1000 * total["supervised"], 1),
            "ijepa_over_supervised_time": round(total["ijepa"] / total["supervised"], 3),
            "ijepa_over_supervised_flops": round(ijepa_flops / sup_flops, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32, help="mask draws timed per repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--fixed-shapes", action="store_true",
                        help="one mask shape for every step (default: the paper's sampler)")
    args = malloc_flag.parse_args(parser)
    print(json.dumps(measure(args.steps, args.repeats, args.fixed_shapes), indent=1))


if __name__ == "__main__":
    main()
