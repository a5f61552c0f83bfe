"""World-model correction: the predictor trained further on the memory's perceived windows."""

from __future__ import annotations

import json

import pytest
import torch
from tensordict import TensorDict

from worldmodel.cli import main
from worldmodel.memory import ShortTermMemory
from worldmodel.world_model import TwoRoomsOracle
from worldmodel.world_model.base import StepRollout
from worldmodel.world_model.correction import CorrectionConfig, Corrector
from worldmodel.world_model.learned import LearnedWorldModel
from worldmodel.world_model.predictors import MLPPredictor

D, A = 8, 2


def _true_step(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """The world as it is: an action moves the first two latents by half of it."""
    return state + 0.5 * torch.nn.functional.pad(action, (0, D - A))


def _perceived(episodes: int, steps: int, gen: torch.Generator) -> ShortTermMemory:
    memory = ShortTermMemory(episodes * steps, D, A)
    state = torch.randn(episodes, D, generator=gen)
    for tau in range(steps):
        action = torch.rand(episodes, A, generator=gen) * 2 - 1
        memory.write(TensorDict({
            "episode": torch.arange(episodes), "tau": torch.full((episodes,), tau),
            "state": state, "action": action, "goal": torch.zeros(episodes, D),
            "cost": torch.zeros(episodes), "imagined": torch.zeros(episodes, dtype=torch.bool),
        }, batch_size=[episodes]))
        state = _true_step(state, action)
    return memory


class Integrator(StepRollout, torch.nn.Module):
    """A world model that learned a faster world: an action moves the state by all of it."""

    action_dim = A

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return state + torch.nn.functional.pad(action, (0, D - A))


def _planning_error(model: LearnedWorldModel, memory: ShortTermMemory) -> float:
    """Through the copies and the calibration planning runs on."""
    states, actions = memory.windows(4)
    with torch.no_grad():
        return (model.rollout(states[:, 0], actions) - states[:, 1:]).pow(2).mean().item()


def test_action_calibration_learns_how_actions_act_now():
    memory = _perceived(episodes=16, steps=20, gen=torch.Generator().manual_seed(0))
    model = LearnedWorldModel(Integrator())
    assert _planning_error(model, memory) > 0.01
    report = Corrector(model, CorrectionConfig(steps=300, lr=1e-2))(memory)
    assert report["error_after"] < 0.01 * report["error_before"]
    torch.testing.assert_close(model.calibration.map.weight, 0.5 * torch.eye(A), atol=0.02,
                               rtol=0)
    assert _planning_error(model, memory) < 1e-4
    step = model.step(torch.zeros(1, D), torch.ones(1, A))  # one step takes it too
    torch.testing.assert_close(step[0, :A], torch.full((A,), 0.5), atol=0.02, rtol=0)


@pytest.mark.parametrize("bf16", [False, True])
def test_correcting_the_predictor_reaches_the_planning_copies(bf16):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = LearnedWorldModel(MLPPredictor(D, A, hidden=64), bf16=bf16)
    memory = _perceived(episodes=16, steps=20, gen=gen)
    states, _ = memory.windows(4)
    before = _planning_error(model, memory)
    corrector = Corrector(model, CorrectionConfig(steps=300, lr=3e-3, params="all"))
    report = corrector(memory)
    assert report["windows"] == len(states) == 16 * 16
    assert report["error_after"] < 0.2 * report["error_before"]
    assert _planning_error(model, memory) < 0.2 * before  # bf16 copy, fused layers refreshed
    assert not any(p.requires_grad for p in model.predictor.parameters())  # frozen again


def test_correction_needs_a_learned_model_and_enough_windows():
    with pytest.raises(ValueError, match="world_model=learned"):
        Corrector(TwoRoomsOracle(), CorrectionConfig(steps=1))
    model = LearnedWorldModel(MLPPredictor(D, A, hidden=16))
    few = _perceived(episodes=1, steps=6, gen=torch.Generator().manual_seed(1))  # 2 windows
    assert Corrector(model, CorrectionConfig(steps=1))(few) is None  # none to hold out
    with pytest.raises(ValueError, match="correction.held_out"):
        CorrectionConfig(held_out=1.0)
    with pytest.raises(ValueError, match="action or all"):
        CorrectionConfig(params="encoder")


def test_the_anchor_holds_the_predictor_near_where_it_started():
    memory = _perceived(episodes=16, steps=20, gen=torch.Generator().manual_seed(0))
    drift = {}
    for anchor in (0.0, 1.0):
        torch.manual_seed(0)
        model = LearnedWorldModel(MLPPredictor(D, A, hidden=64))
        corrector = Corrector(model, CorrectionConfig(steps=100, lr=3e-3, params="all",
                                                      anchor=anchor))
        corrector(memory)
        drift[anchor] = corrector.drift().item()
    assert drift[1.0] < 0.5 * drift[0.0]


def test_jepa_plan_corrects_the_shipped_model_between_batches(tmp_path, capsys):
    """Two Rooms with an agent 30% slower than the one the shipped model learned: after each
    batch the action calibration lowers the model's error on held-out perceived windows,
    and it has learned that actions now move the agent less."""
    out = tmp_path / "plan"
    assert main(["plan", "env=two_rooms", "env.kwargs.max_step=0.035", "episodes=4",
                 "parallel=2", "env.budget=25", "video_episodes=0", "correction.steps=60",
                 f"out={out}", "progress=false"]) == 0
    summary = json.loads((out / "results.json").read_text())["summary"]
    corrections = summary["corrections"]
    assert [c["after_episodes"] for c in corrections] == [2, 4]
    assert (out / "correction.png").exists()
    assert corrections[0]["error_after"] < 0.8 * corrections[0]["error_before"]
    gain = torch.tensor(corrections[-1]["calibration"]["weight"]).diagonal()
    assert (gain < 0.95).all()
    # The corrected model is saved and plans again with its calibration.
    import gymnasium as gym

    from worldmodel.build import ModuleConfig, build_world_model

    env = gym.make("worldmodel/TwoRooms-v0", max_step=0.035)
    corrected = build_world_model(ModuleConfig("learned", str(out / "corrected.pt")), env)
    torch.testing.assert_close(corrected.calibration.map.weight,
                               torch.tensor(corrections[-1]["calibration"]["weight"]))
    assert build_world_model(ModuleConfig("learned"), env).calibration is None  # shipped


def test_correcting_all_weights_leaves_the_loaded_network_as_it_was(tmp_path):
    """The loaded network is shared (perception, the next run of a sweep): a correction
    trains a copy of its predictor, and the saved checkpoint carries the new weights."""
    import gymnasium as gym

    from worldmodel.build import ModuleConfig, build_world_model, trained_path
    from worldmodel.jepa.checkpoint import load

    env = gym.make("worldmodel/TwoRooms-v0")
    model = build_world_model(ModuleConfig("learned"), env)
    shared = model.predictor
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    memory = ShortTermMemory(1000, shared.latent_dim, A)
    gen = torch.Generator().manual_seed(0)
    for tau in range(12):
        memory.write(TensorDict({
            "episode": torch.arange(8), "tau": torch.full((8,), tau),
            "state": torch.randn(8, shared.latent_dim, generator=gen),
            "action": torch.rand(8, A, generator=gen), "goal": torch.zeros(8, shared.latent_dim),
            "cost": torch.zeros(8), "imagined": torch.zeros(8, dtype=torch.bool),
        }, batch_size=[8]))
    corrector = Corrector(model, CorrectionConfig(steps=5, params="all", lr=1e-3))
    assert corrector(memory) is not None
    for key, value in shared.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert model.predictor is not shared
    saved = load(corrector.save(trained_path(None, env), tmp_path / "corrected.pt"))
    moved = saved["model"]["predictor.net.0.weight"]
    torch.testing.assert_close(moved, model.predictor.net[0].weight)
    assert not torch.allclose(moved, before["net.0.weight"])
    assert saved["correction"]["params"] == "all" and "optimizer" not in saved
