"""The six modules around the Agent: cost immutability, critic, memory, Mode-1, jepa plan."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from worldmodel.actor import CEM, ICEM, PlanningActor, PolicyNet, distill, distill_from_memory
from worldmodel.agent import Agent
from worldmodel.cli import main
from worldmodel.configurator import GoalConfigurator
from worldmodel.cost import (
    ActionMagnitude,
    GoalDistance,
    MLPCritic,
    TaskConfig,
    WeightedSum,
    assert_immutable,
    critic_targets,
    train_critic,
)
from worldmodel.data.dataset import EpisodeDataset
from worldmodel.memory import ShortTermMemory
from worldmodel.perception import StatePerception
from worldmodel.world_model import ModuleWorldModel, TwoRoomsOracle


def _rows(episode, taus, dim=2, cost=None):
    n = len(taus)
    return TensorDict({
        "episode": torch.full((n,), episode), "tau": torch.as_tensor(taus),
        "state": torch.as_tensor(taus, dtype=torch.float32)[:, None].repeat(1, dim),
        "action": torch.zeros(n, 2), "goal": torch.zeros(n, dim),
        "cost": torch.as_tensor(taus, dtype=torch.float32) if cost is None else cost,
        "imagined": torch.zeros(n, dtype=torch.bool),
    }, batch_size=[n])


def test_memory_ring_buffer_overwrites_oldest_and_reads_in_order():
    memory = ShortTermMemory(capacity=5, state_dim=2, action_dim=2)
    memory.write(_rows(0, [0, 1, 2]))
    memory.write(_rows(0, [3, 4, 5, 6]))
    assert len(memory) == 5
    assert memory.read()["tau"].tolist() == [2, 3, 4, 5, 6]
    assert memory.read(last=2)["tau"].tolist() == [5, 6]
    assert memory.sample(7)["tau"].min() >= 2
    imagined = _rows(1, [0])
    imagined["imagined"][:] = True
    memory.write(imagined)
    assert memory.read(imagined=True)["episode"].tolist() == [1]
    assert 1 not in memory.read(imagined=False)["episode"].tolist()


def test_memory_pairs_stay_inside_episodes():
    memory = ShortTermMemory(capacity=100, state_dim=2, action_dim=2)
    memory.write(_rows(0, list(range(10))))
    memory.write(_rows(1, list(range(4))))
    now, later = memory.pairs(delta=3)
    assert len(now) == 7 + 1
    assert (later["tau"] - now["tau"] == 3).all() and (later["episode"] == now["episode"]).all()


def test_memory_windows_are_consecutive_perceived_steps_of_one_episode():
    memory = ShortTermMemory(capacity=100, state_dim=2, action_dim=2)
    memory.write(_rows(1, [3, 4, 5, 6]))  # written out of episode order
    memory.write(_rows(0, [0, 1, 2, 4, 5]))  # tau 3 missing: no window across the gap
    imagined = _rows(2, [0, 1, 2])
    imagined["imagined"][:] = True
    memory.write(imagined)
    states, actions = memory.windows(2)
    assert states.shape == (3, 3, 2) and actions.shape == (3, 2, 2)
    assert sorted(states[:, :, 0].tolist()) == [[0, 1, 2], [3, 4, 5], [4, 5, 6]]
    assert memory.windows(4)[0].shape[0] == 0
    with pytest.raises(ValueError, match="at least one step"):
        memory.windows(0)


def test_memory_returns_are_the_discounted_cost_to_come_within_each_episode():
    memory = ShortTermMemory(capacity=100, state_dim=2, action_dim=2)
    memory.write(_rows(0, [0, 1, 2], cost=torch.tensor([1.0, 2.0, 4.0])))
    memory.write(_rows(1, [0, 1], cost=torch.tensor([3.0, 5.0])))
    memory.write(_rows(0, [4], cost=torch.tensor([7.0])))  # tau 3 never happened: a gap
    rows, to_go = memory.returns(discount=0.5)
    got = {(int(e), int(t)): g for e, t, g in zip(rows["episode"], rows["tau"], to_go.tolist(),
                                                  strict=True)}
    assert got == {(0, 0): 1 + 0.5 * 2 + 0.25 * 4, (0, 1): 2 + 0.5 * 4, (0, 2): 4.0,
                   (0, 4): 7.0, (1, 0): 3 + 0.5 * 5, (1, 1): 5.0}
    states, goals, wanted = critic_targets(memory, "return", discount=0.5)
    assert states.shape == (6, 2) and goals.shape == (6, 2)
    torch.testing.assert_close(wanted, to_go)
    with pytest.raises(ValueError, match="return or later"):
        critic_targets(memory, "sooner")


def test_intrinsic_cost_must_have_no_trainable_parameters():
    assert_immutable(WeightedSum([GoalDistance(), ActionMagnitude()]))

    class Learned(GoalDistance):
        def __init__(self):
            super().__init__(readout=torch.nn.Linear(2, 2))

    with pytest.raises(TypeError, match="immutable"):
        assert_immutable(Learned())
    with pytest.raises(TypeError, match="immutable"):
        PlanningActor(TwoRoomsOracle(), WeightedSum([Learned()]), CEM(), action_dim=2)
    frozen = Learned()
    frozen.readout.requires_grad_(False)
    assert_immutable(frozen)


def test_goal_distance_variants():
    states = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])  # [B=1, H=2, D=2]
    task = TaskConfig(goal=torch.tensor([[1.0, 0.0]]))
    assert float(GoalDistance(last_only=True)(states, None, task)) == pytest.approx(0.0, abs=1e-5)
    assert float(GoalDistance()(states, None, task)) == pytest.approx(0.5, abs=1e-5)
    late = GoalDistance(discount=0.5)(states, None, task)  # weights 0.5, 1 over the 2 steps
    assert float(late) == pytest.approx(0.5 / 1.5, abs=1e-5)
    assert float(GoalDistance(norm="l1")(states, None, task)) == pytest.approx(0.25)


def test_critic_loss_falls_on_a_synthetic_memory():
    # The intrinsic cost 5 steps later is a known function of the state: the critic learns it.
    memory = ShortTermMemory(capacity=2000, state_dim=2, action_dim=2)
    gen = torch.Generator().manual_seed(0)
    for episode in range(20):
        start = torch.rand(2, generator=gen)
        taus = torch.arange(30)
        states = start + 0.01 * taus[:, None]
        rows = _rows(episode, taus.tolist(), cost=states.norm(dim=-1))
        rows["state"] = states
        memory.write(rows)
    critic = MLPCritic(2, hidden=32)
    losses = train_critic(critic, memory, delta=5, steps=300, lr=3e-3)
    assert np.mean(losses[-20:]) < 0.1 * np.mean(losses[:5])


def test_mode1_distillation_reduces_imitation_error():
    gen = torch.Generator().manual_seed(0)
    states, goals = torch.rand(512, 2, generator=gen), torch.rand(512, 2, generator=gen)
    actions = torch.tanh(3 * (goals - states))  # a Mode-2-like expert: head for the goal
    policy = PolicyNet(2, 2, hidden=64)
    with torch.no_grad():
        before = float((policy(states, goals) - actions).pow(2).mean())
    distill(policy, states, goals, actions, steps=300, lr=3e-3)
    with torch.no_grad():
        after = float((policy(states, goals) - actions).pow(2).mean())
    assert after < 0.2 * before


def _oracle_agent(horizon=15):
    oracle = TwoRoomsOracle()
    cost = WeightedSum([GoalDistance(discount=0.7)])
    actor = PlanningActor(oracle, cost, CEM(seed=0, samples=100), action_dim=2)
    return Agent(GoalConfigurator(horizon=horizon), StatePerception(2), oracle, cost, actor,
                 ShortTermMemory(10_000, 2, 2))


def test_agent_remembers_what_it_perceives_and_feeds_mode1():
    import gymnasium as gym
    import worldmodel.envs  # noqa: F401

    env = gym.make("worldmodel/TwoRooms-v0")
    obs, info = env.reset(seed=1)
    agent = _oracle_agent()
    agent.reset(info["goal_pose"][None])
    for _ in range(5):
        action = agent.step({"state": info["state"][None]})
        obs, _, _, _, info = env.step(action[0])
    rows = agent.memory.read()
    assert rows["tau"].tolist() == [0, 1, 2, 3, 4]
    agent.step({"state": info["state"][None]}, active=np.array([False]))  # a finished env
    assert len(agent.memory) == 5  # remembers no step that will not happen
    assert rows["cost"][0] > rows["cost"][-1]  # the intrinsic cost falls towards the goal
    policy = PolicyNet(2, 2, hidden=16)
    losses = distill_from_memory(policy, agent.memory, steps=20)
    assert losses[-1] < losses[0]


def test_a_finished_environment_leaves_the_batch():
    """Once inactive, an environment is neither planned for nor remembered, and gets zeros;
    the others keep their warm starts (plan and kept elites); it cannot rejoin before
    reset."""
    oracle = TwoRoomsOracle()
    cost = WeightedSum([GoalDistance()])
    icem = ICEM(samples=40, iterations=2, elites=6, seed=0)
    actor = PlanningActor(oracle, cost, icem, action_dim=2)
    agent = Agent(GoalConfigurator(horizon=8), StatePerception(2), oracle, cost, actor,
                  ShortTermMemory(100, 2, 2))
    agent.reset(np.array([[0.8, 0.8], [0.2, 0.8], [0.8, 0.2]], np.float32))
    obs = {"state": np.full((3, 2), 0.5, np.float32)}
    agent.step(obs)
    plan, kept = actor._plan.clone(), icem._kept.clone()
    inits = []
    optimize = icem.optimize
    icem.optimize = lambda objective, init: inits.append(init) or optimize(objective, init)
    action = agent.step(obs, active=np.array([True, False, True]))
    assert (action[1] == 0).all() and (action[[0, 2]] != 0).any()
    assert inits[0].shape[0] == 2  # the finished environment is not planned for
    torch.testing.assert_close(inits[0][:, :-1], plan[[0, 2], 1:])  # warm starts kept
    assert actor._plan.shape[0] == 2 and icem._kept.shape[0] == 2
    assert kept.shape[0] == 3
    last = agent.memory.read(last=2)
    assert last["episode"].tolist() == [0, 2] and last["tau"].tolist() == [1, 1]
    torch.testing.assert_close(last["goal"], torch.tensor([[0.8, 0.8], [0.8, 0.2]]))
    with pytest.raises(ValueError, match="rejoin"):
        agent.step(obs, active=np.array([True, True, True]))
    with pytest.raises(ValueError, match="one flag per environment"):
        agent.step(obs, active=np.array([True, True]))
    agent.reset(np.zeros((3, 2), np.float32))  # a new batch: everyone acts again
    assert agent.step(obs, active=np.ones(3, bool)).shape == (3, 2)
    assert inits[-1].shape[0] == 3


def test_a_mode1_prior_continues_the_shifted_plan():
    """Each plan starts from the last one shifted by the executed actions; with a prior its
    freed last steps are the policy's, from where the world model says the kept part leads
    (without one, zeros)."""
    oracle = TwoRoomsOracle()
    cost = WeightedSum([GoalDistance()])
    policy = PolicyNet(2, 2, hidden=16)
    task = TaskConfig(goal=torch.tensor([[0.8, 0.8]]), horizon=6)
    state = torch.tensor([[0.2, 0.2]])
    for prior in (None, policy):
        actor = PlanningActor(oracle, cost, CEM(seed=0, samples=50), action_dim=2, execute=2,
                              prior=prior)
        actor.act(state, task)
        kept = actor._plan[:, 2:]
        init = actor.warm_start(state, task)
        torch.testing.assert_close(init[:, :4], kept)
        if prior is None:
            assert (init[:, 4:] == 0).all()
        else:
            end = oracle.rollout(state, kept)[:, -1]
            torch.testing.assert_close(init[:, 4:], policy.imagine(oracle, end, task.goal, 2))


def test_agent_rejects_misfits():
    agent = _oracle_agent()
    with pytest.raises(RuntimeError, match="reset"):
        agent.step({"state": np.zeros((1, 2), np.float32)})
    agent.reset(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        agent.step({"state": np.zeros((1, 3), np.float32)})
    with pytest.raises(KeyError, match="state"):
        agent.step({"pixels": np.zeros((1, 3, 8, 8), np.uint8)})

    class Wide(torch.nn.Module):
        def forward(self, s, a):
            return torch.cat([s, s], -1)

    wrong = _oracle_agent()
    wrong.world_model = ModuleWorldModel(Wide())
    with pytest.raises(ValueError, match="do not fit"):
        wrong.reset(np.zeros((1, 2), np.float32))


def test_jepa_plan_end_to_end(tmp_path, capsys):
    out = tmp_path / "plan"
    command = ["plan", "env=two_rooms", "perception=state", "world_model=oracle", "actor=cem",
               "episodes=2", "parallel=2", "actor.params.samples=100",
               "actor.params.iterations=3", "video_episodes=1", "progress=false",
               "env.budget=60", "env.horizon=25"]
    assert main([*command, f"out={out}"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert main([*command, f"out={tmp_path / 'again'}", "video_episodes=0"]) == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    for a, b in zip(results["episodes"], again["episodes"], strict=True):  # repeatable
        assert (a["steps"], a["final_distance"]) == (b["steps"], b["final_distance"])
    assert results["summary"]["episodes"] == 2 and len(results["episodes"]) == 2
    assert results["summary"]["success_rate"] == 1.0
    assert results["summary"]["horizon"] == 25  # the task's horizon beats the default (40)
    assert all(e["final_distance"] < 0.05 for e in results["episodes"])  # success radius
    for name in ("episodes.mp4", "success_vs_budget.png", "planned_cost.png"):
        assert (out / name).stat().st_size > 0
    assert "| worldmodel/TwoRooms-v0 | cem | oracle | 100%" in capsys.readouterr().out


def test_ctrl_c_in_jepa_plan_keeps_the_finished_episodes(tmp_path, capsys, monkeypatch):
    import signal

    step, calls = Agent.step, []

    def step_then_ctrl_c(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # during the first batch of episodes
            signal.raise_signal(signal.SIGINT)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Agent, "step", step_then_ctrl_c)
    out = tmp_path / "plan"
    assert main(["plan", "env=two_rooms", "perception=state", "world_model=oracle",
                 "actor=cem", "episodes=4", "parallel=2", "actor.params.samples=50",
                 "actor.params.iterations=2", "video_episodes=0", "progress=false",
                 "env.budget=5", f"out={out}"]) == 130
    assert "after 2 of 4 episodes" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert len(results["episodes"]) == 2 and results["complete"] is False
    assert results["summary"]["episodes"] == 2


def test_collect_with_the_planner_of_a_plan_run(tmp_path, capsys):
    """policy=planner: the agent of a `jepa plan` run acts in `jepa collect` (the
    model-based data loop); its episodes end at the goal, a random policy's do not."""
    plan = tmp_path / "plan"
    assert main(["plan", "env=two_rooms", "perception=state", "world_model=oracle",
                 "actor=cem", "episodes=1", "parallel=1", "actor.params.samples=100",
                 "actor.params.iterations=3", "video_episodes=0", "progress=false",
                 f"out={plan}", "env.budget=5", "env.horizon=25"]) == 0
    capsys.readouterr()
    finals = {}
    for policy in ("planner", "random"):
        out = tmp_path / policy
        extra = [f"planner={plan / 'results.json'}"] if policy == "planner" else []
        assert main(["collect", "env=two_rooms", f"policy={policy}", *extra, "noise=0.05",
                     "episodes=2", "env.episode_length=60", "env.num_envs=2", f"out={out}",
                     "progress=false", "preview=0"]) == 0, capsys.readouterr().err
        eps = EpisodeDataset.open(out).episodes
        finals[policy] = (eps["state"][:, -1, :2] - eps["goal_state"][:, :2]).norm(dim=-1)
    assert (finals["planner"] < 0.1).all() and (finals["random"] > 0.1).all()
    assert main(["collect", "policy=planner", f"out={tmp_path / 'x'}"]) == 1
    assert "planner=<results.json" in capsys.readouterr().err
    assert main(["collect", "policy=planner", f"planner={tmp_path / 'no.json'}",
                 f"out={tmp_path / 'y'}"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_jepa_plan_bad_actor_settings(capsys, tmp_path):
    oracle = ["perception=state", "world_model=oracle"]
    assert main(["plan", "actor.params.nonsense=1", f"out={tmp_path}"]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert main(["plan", "actor=cem", "+actor.params.nonsense=1", f"out={tmp_path}"]) == 1
    assert "unknown key(s) ['nonsense'] for cem" in capsys.readouterr().err
    assert main(["plan", "actor=grad", "env=point_room", *oracle, f"out={tmp_path}"]) == 1
    assert "differentiable" in capsys.readouterr().err
    assert main(["plan", "actor=policy", f"out={tmp_path}"]) == 1
    assert "checkpoint" in capsys.readouterr().err


def test_jepa_plan_rejects_modules_that_do_not_share_a_state_space(capsys, tmp_path):
    out = f"out={tmp_path}"
    assert main(["plan", "env=two_rooms", "perception=state", "world_model=learned", out]) == 1
    assert "use perception=learned" in capsys.readouterr().err
    assert main(["plan", "env=two_rooms", "perception=learned", "world_model=oracle", out]) == 1
    assert "use perception=state" in capsys.readouterr().err
    assert main(["plan", "env=two_rooms", f"perception.checkpoint={tmp_path / 'a.pt'}", out]) == 1
    assert "differ" in capsys.readouterr().err


def test_a_checkpoint_of_the_wrong_stage_is_named(capsys, tmp_path):
    encoder, world = tmp_path / "encoder.pt", tmp_path / "world.pt"
    torch.save({"config": {}, "model": {}, "step": 1}, encoder)  # as `jepa pretrain` writes
    torch.save({"train_config": {}, "model": {}}, world)  # as `jepa train` writes
    assert main(["plan", f"world_model.checkpoint={encoder}", f"out={tmp_path}"]) == 1
    assert f"perception_checkpoint={encoder}" in capsys.readouterr().err
    from worldmodel.jepa.checkpoint import CheckpointError
    from worldmodel.jepa.pretrain import model_from_checkpoint

    with pytest.raises(CheckpointError, match="it is a `jepa train` checkpoint"):
        model_from_checkpoint(world)  # what probe and the frozen recipe load


def test_jepa_plan_trains_the_critic_from_memory_between_batches(tmp_path):
    from worldmodel.evaluation import PlanConfig, build_agent, run_plan

    cfg = PlanConfig(episodes=4, parallel=2, video_episodes=0, progress=False,
                     out=str(tmp_path / "plan"))
    cfg.actor.params = {"samples": 50, "iterations": 2}
    cfg.actor.critic_weight, cfg.actor.critic_delta, cfg.actor.critic_steps = 1.0, 3, 5
    cfg.env.budget = 30
    import gymnasium as gym

    agent = build_agent(cfg, gym.make(cfg.env.id))
    assert agent.actor.critic is not None
    summary = run_plan(cfg)
    assert summary["episodes"] == 4
