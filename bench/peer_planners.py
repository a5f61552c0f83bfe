"""Planner speed against TorchRL's CEMPlanner and MPPIPlanner on one world model and cost.

    python bench/peer_planners.py [--repeats 5] [--calls 3] [--out bench_results/peer_planners.json]

Reference configuration: residual MLP world model z' = z + W2 gelu(W1 [LN(z), a])
(latent 128, hidden 512, action 2), cost = sum over the horizon of the squared distance to
a goal latent, 300 candidates, horizon 16, 10 iterations, top-30. Every planner gets the
same model weights, the same start and goal latents and the same budget; each round calls
every planner a few times back to back (as a receding-horizon controller does) and rounds
alternate between planners so machine noise hits all of them alike; medians over all calls.
The cost reached is the true (fp32) cost of the plan each one returns.

A plain fp32 CEM loop over ``model.step`` (the issue's baseline) runs beside them. This
project's planners run in fp32 and in the precision ``jepa plan`` picks on the machine at
hand (``--precision auto``: bf16 where the CPU has bf16 kernels, else int8 hidden layers,
else fp32; see ``worldmodel/precision.py``). A row with the rollout's layers unfused
(``LearnedWorldModel(fused=False)``) shows what the oneDNN-fused rollout brings.

Also: the time each of this project's planners needs to reach a given cost on the next
call of a receding-horizon controller (the first action of the last plan applied, so the
start is the state it leads to; the target is within 2% of what fp32 CEM reaches from there
at the full budget), from a cold start and warm-started with the rest of the last plan,
shifted by one step.

TorchRL needs tensordict < 0.15; run this in a venv of its own:
    python -m venv /tmp/peer && /tmp/peer/bin/pip install torch==2.13.0 \
        torchrl==0.14.1 "tensordict<0.15" -e .
Without TorchRL the project's rows are still measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import malloc_flag
import torch

from worldmodel.actor import CEM, ICEM, MPPI
from worldmodel.precision import resolve_bf16, resolve_int8
from worldmodel.world_model.learned import LearnedWorldModel
from worldmodel.world_model.predictors import MLPPredictor

LATENT, HIDDEN, ACTION = 128, 512, 2
SAMPLES, HORIZON, ITERATIONS, TOP_K = 300, 16, 10, 30
MPPI_TEMPERATURE = 0.01


def make_problem(seed: int = 0) -> tuple[MLPPredictor, torch.Tensor, torch.Tensor]:
    """A residual MLP world model, a start latent [D] and a goal latent [D] the model can
    reach: the goal is the model's own rollout of a random smooth 4-step action sequence."""
    torch.manual_seed(seed)
    model = MLPPredictor(LATENT, ACTION, hidden=HIDDEN, depth=1).eval().requires_grad_(False)
    with torch.no_grad():
        # A random init barely listens to 2 of 130 inputs and drifts fast whatever the
        # action: scale it towards a trained model's (slow, action-driven latents).
        model.net[0].weight[:, LATENT:] *= 30.0
        model.net[-1].weight *= 0.1
        model.net[-1].bias *= 0.1
    z0 = torch.randn(LATENT)
    acts = torch.randn(1, 4, ACTION).cumsum(1).tanh()
    with torch.no_grad():  # reachable in 4 steps: the cost rewards getting there and staying
        goal = model.rollout(z0[None], acts)[0, -1]
    return model, z0, goal


def true_cost(model: MLPPredictor, z0: torch.Tensor, goal: torch.Tensor,
              actions: torch.Tensor) -> float:
    """fp32 cost of one plan [H, A]: sum_t ||z_t - goal||^2."""
    with torch.no_grad():
        z = model.rollout(z0[None], actions[None].float())
    return float((z - goal).pow(2).sum(-1).sum(-1))


def auto_precision() -> str:
    """What ``jepa plan`` plans in on this CPU: bf16, int8 (hidden layers) or fp32."""
    bf16 = resolve_bf16(None, "cpu")
    return "bf16" if bf16 else "int8" if resolve_int8(None, bf16, "cpu") else "fp32"


def project_planner(name: str, model: MLPPredictor, z0: torch.Tensor, goal: torch.Tensor,
                    precision: str, horizon: int = HORIZON, fused: bool = True, **overrides
                    ) -> Callable[[torch.Tensor | None], torch.Tensor]:
    """One of this project's planners on the problem, its rollout in ``precision`` (fp32,
    bf16 or int8); returns plan(init) -> actions [H, A]."""
    world = LearnedWorldModel(model, bf16=precision == "bf16", fused=fused,
                              int8=precision == "int8")
    budget = {"samples": SAMPLES, "iterations": ITERATIONS, **overrides}
    if name != "mppi":  # MPPI weighs every sample instead of keeping elites
        budget.setdefault("elites", TOP_K)
    planner = {"cem": CEM, "icem": ICEM, "mppi": MPPI}[name](**budget)

    def objective(actions: torch.Tensor) -> torch.Tensor:  # [E, N, H, A] -> [E, N]
        E, N, H, A = actions.shape
        z = world.rollout(z0.expand(E * N, -1), actions.reshape(E * N, H, A))
        return (z - goal).pow(2).sum(-1).sum(-1).reshape(E, N)

    def plan(init: torch.Tensor | None = None) -> torch.Tensor:
        if hasattr(planner, "reset"):
            planner.reset()  # no elites kept from an earlier call: only ``init`` warms
        start = torch.zeros(1, horizon, ACTION) if init is None else init[None]
        return planner.optimize(objective, start).actions[0]

    return plan


def plain_cem(model: MLPPredictor, z0: torch.Tensor, goal: torch.Tensor
              ) -> Callable[[], torch.Tensor]:
    """The issue's baseline: a plain fp32 CEM loop batched over candidates, stepping the
    model as written (``model.step``), with the same budget and cost."""

    def plan() -> torch.Tensor:
        mean, std = torch.zeros(HORIZON, ACTION), torch.ones(HORIZON, ACTION)
        with torch.no_grad():
            for _ in range(ITERATIONS):
                actions = (mean + std * torch.randn(SAMPLES, HORIZON, ACTION)).clamp(-1, 1)
                z, cost = z0.expand(SAMPLES, -1), torch.zeros(SAMPLES)
                for t in range(HORIZON):
                    z = model.step(z, actions[:, t])
                    cost += (z - goal).pow(2).sum(-1)
                elites = actions[cost.topk(TOP_K, largest=False).indices]
                mean, std = elites.mean(0), elites.std(0)
        return mean
    return plan


def torchrl_planners(model: MLPPredictor, z0: torch.Tensor, goal: torch.Tensor
                     ) -> dict[str, Callable[[], torch.Tensor]]:
    """TorchRL's CEMPlanner and MPPIPlanner on a ModelBasedEnvBase around the same model;
    reward = -||z' - goal||^2, so maximising the return minimises the same cost."""
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule
    from torchrl.data import Bounded, Composite, Unbounded
    from torchrl.envs.model_based import ModelBasedEnvBase
    from torchrl.modules.planners import CEMPlanner, MPPIPlanner

    class Dynamics(torch.nn.Module):
        def forward(self, z: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
            nxt = model.step(z, a)
            return nxt, -(nxt - goal).pow(2).sum(-1, keepdim=True)

    class LatentEnv(ModelBasedEnvBase):
        def __init__(self) -> None:
            super().__init__(TensorDictModule(Dynamics(), in_keys=["z", "action"],
                                              out_keys=["z", "reward"]))
            self.observation_spec = Composite(z=Unbounded((LATENT,)))
            self.state_spec = Composite(z=Unbounded((LATENT,)))
            self.action_spec = Bounded(-1.0, 1.0, (ACTION,))
            self.reward_spec = Unbounded((1,))

        def _reset(self, tensordict=None, **kwargs):
            return TensorDict({"z": z0.clone()}, batch_size=self.batch_size)

    class Return(torch.nn.Module):
        """MPPI's advantage: the return to go of each imagined step."""

        def forward(self, td):
            reward = td.get(("next", "reward"))
            td.set("advantage", reward.flip(-2).cumsum(-2).flip(-2))
            return td

    env = LatentEnv()
    cem = CEMPlanner(env, HORIZON, ITERATIONS, SAMPLES, TOP_K)
    # exp(temperature * return) underflows to 0/0 at this energy scale for temperature 1;
    # 0.01 keeps TorchRL's weights finite here.
    mppi = MPPIPlanner(env, Return(), MPPI_TEMPERATURE, HORIZON, ITERATIONS, SAMPLES, TOP_K)
    start = TensorDict({"z": z0.clone()}, batch_size=[])

    def run(planner) -> Callable[[], torch.Tensor]:
        def plan() -> torch.Tensor:
            # TorchRL returns only the first action; the last mean it stores is the plan
            # it found, and scoring needs all of it: record it as it is written.
            means, real_set = [], TensorDict.set_

            def recording_set(self, key, value, *args, **kwargs):
                if key == ("stats", "_action_means"):
                    means.append(value)
                return real_set(self, key, value, *args, **kwargs)

            TensorDict.set_ = recording_set
            try:
                with torch.no_grad():
                    planner.planning(start.clone())
            finally:
                TensorDict.set_ = real_set
            return means[-1].reshape(HORIZON, ACTION)
        return plan

    return {"torchrl CEMPlanner (fp32)": run(cem), "torchrl MPPIPlanner (fp32)": run(mppi)}


def timed(plan: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    actions = plan()
    return time.perf_counter() - start, actions


def time_to_cost(name: str, model, z0, goal, target: float, warm: torch.Tensor | None,
                 precision: str) -> dict:
    """Smallest (samples, iterations) budget on a doubling ladder whose plan reaches
    ``target`` in at least half of 5 seeded calls; its median time per call."""
    for samples, iterations in ((25, 2), (50, 2), (50, 3), (100, 3), (100, 5), (200, 5),
                                (300, 5), (300, 10)):
        times, costs = [], []
        plan = project_planner(name, model, z0, goal, precision, samples=samples,
                               iterations=iterations, elites=max(5, samples // 10))
        plan(warm)  # oneDNN plans its kernels for these shapes
        for seed in range(5):
            torch.manual_seed(seed)
            t, actions = timed(lambda plan=plan: plan(warm))
            times.append(t)
            costs.append(true_cost(model, z0, goal, actions))
        if statistics.median(costs) <= target:
            return {"planner": name, "warm_start": warm is not None, "samples": samples,
                    "iterations": iterations, "ms_per_plan": round(
                        1000 * statistics.median(times), 1),
                    "median_cost": round(statistics.median(costs), 2)}
    return {"planner": name, "warm_start": warm is not None, "reached": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds over all planners")
    parser.add_argument("--calls", type=int, default=3, help="back-to-back calls per round")
    parser.add_argument("--out", type=Path, default=Path("bench_results/peer_planners.json"))
    parser.add_argument("--precision", choices=("auto", "bf16", "int8", "fp32"),
                        default="auto", help="of this project's fast rows (auto: as jepa plan)")
    args = malloc_flag.parse_args(parser)
    torch.set_num_threads(torch.get_num_threads())
    fast = auto_precision() if args.precision == "auto" else args.precision
    unfused = "bf16" if fast == "bf16" else "fp32"  # int8 layers exist only fused
    print(f"this project's fast rows: {fast}")
    model, z0, goal = make_problem()
    our_cem, our_mppi = f"worldmodel CEM ({fast})", f"worldmodel MPPI ({fast})"
    planners: dict[str, Callable[[], torch.Tensor]] = {
        "worldmodel CEM (fp32)": project_planner("cem", model, z0, goal, "fp32"),
        our_cem: project_planner("cem", model, z0, goal, fast),
        f"worldmodel CEM ({unfused}, layers unfused)": project_planner(
            "cem", model, z0, goal, unfused, fused=False),
        our_mppi: project_planner("mppi", model, z0, goal, fast),
        f"worldmodel iCEM ({fast})": project_planner("icem", model, z0, goal, fast),
        "plain CEM loop (fp32)": plain_cem(model, z0, goal),
    }
    try:
        planners.update(torchrl_planners(model, z0, goal))
    except ImportError as err:
        print(f"TorchRL not importable ({err}); measuring this project's planners only")
    times: dict[str, list[float]] = {k: [] for k in planners}
    costs: dict[str, list[float]] = {k: [] for k in planners}
    for plan in planners.values():  # warm-up: oneDNN plans its kernels
        plan()
    # Rounds of back-to-back calls per planner, as a receding-horizon controller calls its
    # planner; the rounds alternate between planners so machine noise hits all alike.
    for r in range(args.repeats):
        for name, plan in planners.items():
            for k in range(args.calls):
                torch.manual_seed(100 + args.calls * r + k)
                t, actions = timed(plan)
                times[name].append(t)
                costs[name].append(true_cost(model, z0, goal, actions))
    rows = [{"planner": k, "ms_per_plan": round(1000 * statistics.median(times[k]), 1),
             "median_cost": round(statistics.median(costs[k]), 2)} for k in planners]
    # Paired: each round's peer time over ours in the same round (medians of its calls),
    # then the median over rounds; drift of the shared host cancels within a round.
    for peer, ours in (("torchrl CEMPlanner (fp32)", our_cem),
                       ("torchrl MPPIPlanner (fp32)", our_mppi),
                       ("plain CEM loop (fp32)", our_cem)):
        if peer in times:
            per_round = [statistics.median(times[peer][r * args.calls:(r + 1) * args.calls])
                         / statistics.median(times[ours][r * args.calls:(r + 1) * args.calls])
                         for r in range(args.repeats)]
            rows.append({"speedup": f"{peer} / {ours}",
                         "median_over_rounds": round(statistics.median(per_round), 2),
                         "range": [round(min(per_round), 2), round(max(per_round), 2)]})
    # The next call of a receding-horizon controller: the first action of the last plan has
    # moved the world to z1, and the rest of that plan, shifted, is the warm start. The
    # target is within 2% of what fp32 CEM reaches from z1 at the full budget, cold.
    last = project_planner("cem", model, z0, goal, "fp32")()
    with torch.no_grad():
        z1 = model.step(z0[None], last[None, 0])[0]
    warm = torch.cat([last[1:], last[-1:]])
    full = project_planner("cem", model, z1, goal, "fp32")
    target = 1.02 * statistics.median(true_cost(model, z1, goal, full()) for _ in range(5))
    reach = [time_to_cost(n, model, z1, goal, target, w, fast) for n in ("cem", "icem")
             for w in (None, warm)]
    for row in rows + reach:
        print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"precision": fast, "target_cost": target, "planners": rows,
                                    "time_to_cost": reach}, indent=2))


if __name__ == "__main__":
    main()
