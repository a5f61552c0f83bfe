"""Planners: the minimum of a known quadratic, the oracle to the goal, warm starts, MPPI
stability, bounds and NaN handling."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest
import torch
import worldmodel.envs  # noqa: F401

from worldmodel.actor import (
    CEM,
    ICEM,
    MPPI,
    PLANNERS,
    ActionError,
    GradientPlanner,
    PlanningActor,
    PlanResult,
    RandomShooting,
    checked_actions,
)
from worldmodel.actor.icem import colored_noise
from worldmodel.cost import GoalDistance, TaskConfig
from worldmodel.world_model import ModuleWorldModel, TwoRoomsOracle

TARGET = torch.tensor([[0.5, -0.3], [0.2, 0.1], [-0.4, 0.4], [0.0, -0.6]])  # [H=4, A=2]


def quadratic(actions: torch.Tensor) -> torch.Tensor:
    return (actions - TARGET).pow(2).sum((-1, -2))


# iCEM's smooth (coloured) noise suits smooth plans; this zig-zag takes it more iterations.
SETTINGS = {"icem": {"iterations": 10}}


@pytest.mark.parametrize("name", ["cem", "icem", "mppi", "grad"])
def test_planner_finds_quadratic_minimum(name):
    planner = PLANNERS[name](seed=0, **SETTINGS.get(name, {}))
    result = planner.optimize(quadratic, torch.zeros(2, 4, 2))
    assert result.actions.shape == (2, 4, 2)
    assert torch.allclose(result.actions, TARGET.expand(2, -1, -1), atol=0.12)
    assert result.history[-1] <= result.history[0]


def test_random_shooting_improves_on_its_warm_start():
    result = RandomShooting(samples=2000, seed=0).optimize(quadratic, torch.zeros(1, 4, 2))
    assert float(result.cost) < float(quadratic(torch.zeros(1, 1, 4, 2)))


@pytest.mark.parametrize("name", ["cem", "icem", "mppi", "grad", "shooting"])
def test_planners_respect_bounds(name):
    far = torch.full((4, 2), 3.0)  # the minimum lies outside [-1, 1]
    result = PLANNERS[name](seed=0, **SETTINGS.get(name, {})).optimize(
        lambda a: (a - far).pow(2).sum((-1, -2)),
                                             torch.zeros(1, 4, 2))
    assert result.actions.abs().max() <= 1.0 + 1e-6
    if name != "shooting":  # one uniform draw does not converge
        assert result.actions.min() > 0.5  # pushed towards the bound


def test_mppi_is_stable_with_huge_and_infinite_costs():
    mppi = MPPI(seed=0)
    cost = torch.tensor([[1e30, 2e30, float("inf")], [float("inf")] * 3])
    w = mppi.weights(cost)
    assert torch.isfinite(w).all() and torch.allclose(w.sum(1), torch.ones(2))
    assert w[0, 0] == 1.0 and w[0, 2] == 0.0
    result = mppi.optimize(lambda a: 1e35 * quadratic(a), torch.zeros(1, 4, 2))
    assert torch.isfinite(result.actions).all()


def test_colored_noise_is_unit_variance_and_smooth():
    white = colored_noise((2000, 32, 1), beta=0.0, horizon_dim=1)
    red = colored_noise((2000, 32, 1), beta=2.0, horizon_dim=1)
    assert abs(float(red.std()) - 1) < 0.05

    def lag1(x):
        return float((x[:, 1:] * x[:, :-1]).mean())

    assert lag1(red) > 0.5 > lag1(white)


def _two_rooms_actor(planner) -> PlanningActor:
    return PlanningActor(TwoRoomsOracle(), GoalDistance(discount=0.7), planner, action_dim=2)


@pytest.mark.parametrize("name", ["cem", "icem", "mppi", "grad", "shooting"])
def test_planner_drives_oracle_to_goal(name):
    env = gym.make("worldmodel/TwoRooms-v0")
    params = {"grad": {"iterations": 15}, "shooting": {"samples": 500}}.get(name, {})
    actor = _two_rooms_actor(PLANNERS[name](seed=0, **params))
    # Sampling planners find the door; local ones (gradient, one-shot) get a same-room goal.
    options = {"goal": [0.1, 0.8]} if name in ("grad", "shooting") else None
    obs, info = env.reset(seed=6 if options else 4, options=options)
    if options:
        assert info["state"][0] < 0.5  # start in the left room, like the goal
    task = TaskConfig(goal=torch.tensor(info["goal_state"])[None], horizon=20)
    for _ in range(80):
        action = actor.act(torch.tensor(info["state"])[None], task)
        obs, _, terminated, _, info = env.step(action[0].numpy())
        if terminated:
            break
    assert info["is_success"]


def test_warm_start_shifts_the_previous_plan():
    actor = _two_rooms_actor(CEM(seed=0, iterations=1, samples=20, elites=5))
    task = TaskConfig(goal=torch.tensor([[0.2, 0.2]]), horizon=6)
    state = torch.tensor([[0.3, 0.3]])
    actor.act(state, task)
    plan = actor._plan.clone()
    init = actor.warm_start(state, task)
    torch.testing.assert_close(init[:, :-1], plan[:, 1:])
    assert (init[:, -1] == 0).all()


def test_receding_horizon_executes_several_actions_per_plan():
    actor = _two_rooms_actor(CEM(seed=0, iterations=1, samples=20, elites=5))
    actor.execute = 3
    task = TaskConfig(goal=torch.tensor([[0.2, 0.2]]), horizon=6)
    state = torch.tensor([[0.3, 0.3]])
    first = actor.act(state, task)
    plan = actor._plan.clone()
    second, third = actor.act(state, task), actor.act(state, task)
    assert len(actor.plan_seconds) == 1
    torch.testing.assert_close(torch.stack([first, second, third], 1), plan[:, :3])
    actor.act(state, task)
    assert len(actor.plan_seconds) == 2


@pytest.mark.parametrize("name", ["cem", "icem", "shooting"])
def test_planner_never_returns_worse_than_its_warm_start(name):
    # An already optimal warm start and a budget too small to find it by sampling.
    planner = PLANNERS[name](seed=0, samples=8, **({} if name == "shooting" else
                                                    {"elites": 2, "iterations": 2}))
    result = planner.optimize(quadratic, TARGET[None].clone())
    torch.testing.assert_close(result.actions[0], TARGET)


def test_icem_keeps_and_shifts_elites():
    icem = ICEM(seed=0, samples=40, elites=8)
    icem.optimize(quadratic, torch.zeros(1, 4, 2))
    kept = icem._kept.clone()
    icem.shift(1)
    torch.testing.assert_close(icem._kept[:, :, :-1], kept[:, :, 1:])


class _BrokenPlanner:
    """A user's planner that returns NaN actions."""

    def optimize(self, objective, init):
        return PlanResult(init * float("nan"), init[:, 0, 0])


def test_nan_actions_never_leave_the_actor():
    with pytest.raises(ActionError, match="NaN"):
        checked_actions(torch.tensor([[float("nan"), 0.0]]), "test")
    assert checked_actions(torch.tensor([[2.0, -3.0]]), "test").abs().max() == 1.0
    actor = PlanningActor(TwoRoomsOracle(), GoalDistance(), _BrokenPlanner(), action_dim=2)
    with pytest.raises(ActionError, match="_BrokenPlanner"):
        actor.act(torch.full((1, 2), 0.3), TaskConfig(goal=torch.full((1, 2), 0.2), horizon=3))


def test_planner_ignores_candidates_whose_energy_is_nan():
    def half_nan(actions):
        cost = quadratic(actions)
        return torch.where(actions[..., 0, 0] > 0, cost, torch.nan)

    result = CEM(seed=0).optimize(half_nan, torch.zeros(1, 4, 2))
    assert torch.isfinite(result.cost).all() and torch.isfinite(result.actions).all()


def test_gradient_planner_refuses_non_differentiable_models():
    def flat(actions):
        return quadratic(actions).detach()

    with pytest.raises(TypeError, match="differentiable"):
        GradientPlanner(iterations=2).optimize(flat, torch.zeros(1, 4, 2))


def test_planner_works_outside_the_stack_on_a_user_module():
    """A user's nn.Module needs one wrapper line; any cost callable works."""

    class Drift(torch.nn.Module):
        def forward(self, s, a):
            return s + 0.1 * a

    actor = PlanningActor(ModuleWorldModel(Drift()), GoalDistance(), MPPI(seed=0), action_dim=2)
    a = actor.act(torch.zeros(3, 2), TaskConfig(goal=torch.ones(3, 2), horizon=5))
    assert a.shape == (3, 2) and (a > 0).all()


@pytest.mark.parametrize("planner, bad, named", [
    (CEM, {"samples": 0}, "samples must be positive"),
    (CEM, {"elites": 40, "samples": 30}, "elites must be in 1..samples=30"),
    (ICEM, {"iterations": 0}, "iterations must be positive"),
    (ICEM, {"population_decay": 0.5}, "population_decay"),
    (ICEM, {"keep_elites": 1.5}, "keep_elites must be within [0, 1]"),
    (MPPI, {"temperature": 0.0}, "temperature must be positive"),
    (RandomShooting, {"samples": -1}, "samples must be positive"),
    (GradientPlanner, {"lr": 0.0}, "lr must be positive"),
])
def test_a_planner_with_an_impossible_budget_is_refused(planner, bad, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        planner(**bad)


def test_plan_settings_out_of_range_name_their_key(capsys, tmp_path):
    from worldmodel.cli import main

    for key, named in (("env.budget=0", "env.budget must be positive"),
                       ("configurator.horizon=0", "configurator.horizon must be positive"),
                       ("cost.discount=1.5", "cost.discount"),
                       ("actor.execute=0", "actor.execute must be positive")):
        assert main(["plan", key, f"out={tmp_path}"]) != 0
        assert named in capsys.readouterr().err
