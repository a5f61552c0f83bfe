"""bf16 against fp32 on this machine: what ``bf16: null`` (auto) decides, and why.

    python bench/precision.py [--repeats 20]

Times, in one process and alternating, the products the project's hot loops are made of:
a planning rollout layer (4800 x 512 by 512 x 512, plain tensors), the same layer as an
``nn.Linear`` under autocast (as ``jepa train`` and ``jepa pretrain`` run it), and a
residual MLP world model's 40-step rollout of 1,003 candidates (iCEM's first population
for 10 environments) through ``LearnedWorldModel`` in each precision, and the same rollout
with int8 hidden layers against fp32 at iCEM's three population sizes. Prints whether the
CPU has native bf16 kernels (``worldmodel.precision.bf16_native``) and what auto picks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable

import malloc_flag
import torch

from worldmodel.precision import bf16_native, int8_linear_available, resolve_bf16
from worldmodel.world_model.learned import LearnedWorldModel
from worldmodel.world_model.predictors import MLPPredictor


def seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cases(repeats: int) -> dict[str, dict[str, float]]:
    """{case: timings in ms and rates in GFLOP/s}: each bf16 case beside fp32, and the int8
    rollout beside fp32 (when this build has int8 linear layers)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4800, 512, generator=gen)
    w = torch.randn(512, 512, generator=gen)
    linear = torch.nn.Linear(512, 512).requires_grad_(False)
    predictor = MLPPredictor(64, 2, hidden=512)
    state = torch.randn(1003, 64, generator=gen)
    actions = torch.rand(1003, 40, 2, generator=gen) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bf16 model is asked for where it is slow
        worlds = {bf16: LearnedWorldModel(predictor, bf16=bf16) for bf16 in (False, True)}
    flops_rollout = 2 * 1003 * 40 * (66 * 512 + 512 * 512 + 512 * 64)

    def autocast_linear(bf16: bool) -> Callable[[], object]:
        def run() -> object:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return linear(x)
        return run

    int8_world = LearnedWorldModel(predictor, int8=True) if int8_linear_available() else None
    plans = {
        "matrix product 4800x512x512": (
            {False: lambda: x @ w, True: lambda: x.bfloat16() @ w.bfloat16()},
            2 * 4800 * 512 * 512),
        "nn.Linear under autocast": (
            {False: autocast_linear(False), True: autocast_linear(True)}, 2 * 4800 * 512 * 512),
        "MLP rollout 1003 x 40": (
            {bf16: (lambda m=m: m.rollout(state, actions)) for bf16, m in worlds.items()},
            flops_rollout),
    }
    rows = {}
    with torch.no_grad():
        if int8_world is not None:  # int8 hidden layers against fp32, alternating
            for n in (643, 803, 1003):  # iCEM's three populations for 10 environments
                times: dict[str, list[float]] = {"fp32": [], "int8": []}
                for _ in range(repeats // 4 or 1):
                    for key, world in (("fp32", worlds[False]), ("int8", int8_world)):
                        times[key].append(seconds(
                            lambda w=world, n=n: w.rollout(state[:n], actions[:n]), 1))
                fp32, int8 = (statistics.median(times[k]) for k in ("fp32", "int8"))
                rows[f"MLP rollout {n} x 40, int8 hidden layers"] = {
                    "fp32_ms": round(fp32 * 1e3, 2), "int8_ms": round(int8 * 1e3, 2),
                    "int8_speedup": round(fp32 / int8, 2)}
        # bf16 where it is emulated is slow: fewer repeats there, the median still holds
        slow = repeats if bf16_native("cpu") else 3
        for name, (fns, flops) in plans.items():
            fp32 = seconds(fns[False], repeats)
            bf16 = seconds(fns[True], slow)
            rows[name] = {"fp32_ms": round(fp32 * 1e3, 2), "bf16_ms": round(bf16 * 1e3, 2),
                          "fp32_gflops": round(flops / fp32 / 1e9, 1),
                          "bf16_gflops": round(flops / bf16 / 1e9, 1),
                          "bf16_over_fp32_time": round(bf16 / fp32, 2)}
    return rows


def int8_fidelity() -> dict[str, float]:
    """The shipped Point Room predictor rolled out by the int8 and fp32 paths from one start
    over 1,003 smooth random action sequences of 40 steps: the int8 error relative to the
    distance fp32 has moved from the start, at steps 1 and 40, and how many of the 30
    cheapest plans (to the latent fp32 reaches at step 40 of the first sequence) they share."""
    from worldmodel.checkpoints import shipped
    from worldmodel.world_model.net import net_from_checkpoint

    net, _ = net_from_checkpoint(str(shipped("worldmodel/PointRoom-v0")))
    gen = torch.Generator().manual_seed(1)
    state = torch.randn(1, net.predictor.latent_dim, generator=gen).expand(1003, -1)
    actions = (torch.randn(1003, 40, 2, generator=gen).cumsum(1) * 0.3).tanh()
    with torch.no_grad():
        exact = LearnedWorldModel(net.predictor).rollout(state, actions)
        fast = LearnedWorldModel(net.predictor, int8=True).rollout(state, actions)
    # relative to how far the fp32 latent has moved from the start by then
    error = (fast - exact).norm(dim=-1).mean(0) / (exact - state[:, None]).norm(dim=-1).mean(0)
    cost = [(z - exact[0, -1]).pow(2).sum((-1, -2)) for z in (exact, fast)]
    best = [set(c.argsort()[:30].tolist()) for c in cost]
    return {"relative_error_step_1": round(float(error[0]), 4),
            "relative_error_step_40": round(float(error[-1]), 4),
            "shared_of_30_cheapest": len(best[0] & best[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = malloc_flag.parse_args(parser)
    print(json.dumps({
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "bf16_native_cpu": bf16_native("cpu"),
        "auto_picks_bf16": resolve_bf16(None, "cpu"),
        "cases": cases(args.repeats),
        "int8_fidelity": int8_fidelity() if int8_linear_available() else None,
    }, indent=1))


if __name__ == "__main__":
    main()
