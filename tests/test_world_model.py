"""World model: predictor causality and shapes, both training recipes, resume, bad input."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import worldmodel.envs  # noqa: F401

from worldmodel.build import ModuleConfig, build_perception, build_world_model
from worldmodel.data.dataset import DatasetError, DatasetMeta, EpisodeDataset
from worldmodel.jepa.checkpoint import CheckpointError, load
from worldmodel.jepa.pretrain import PretrainConfig, pretrain
from worldmodel.perception.history import FrameHistory, stack_frames
from worldmodel.precision import int8_linear_available
from worldmodel.world_model.fused_rollout import FusedMLPRollout, fused_ops_available
from worldmodel.world_model.learned import LearnedWorldModel
from worldmodel.world_model.net import net_from_checkpoint
from worldmodel.world_model.predictors import ACTransformer, MLPPredictor
from worldmodel.world_model.report import agent_position
from worldmodel.world_model.train import train
from worldmodel.world_model.train_config import TrainConfig


def test_transformer_is_block_causal():
    torch.manual_seed(0)
    model = ACTransformer(latent_dim=8, action_dim=2, dim=16, depth=2, heads=2)
    states, actions = torch.randn(3, 5, 8), torch.randn(3, 5, 2)
    before = model(states, actions)
    later = actions.clone()
    later[:, 3:] += 1.0  # change the actions of frames 3 and 4
    after = model(states, later)
    torch.testing.assert_close(after[:, :3], before[:, :3])  # earlier predictions unchanged
    assert not torch.allclose(after[:, 3:], before[:, 3:])


@pytest.mark.parametrize("cls", [MLPPredictor, ACTransformer])
def test_rollout_shapes_batched_over_candidates(cls):
    model = cls(8, 2) if cls is MLPPredictor else cls(8, 2, dim=16, depth=1, heads=2)
    out = model.rollout(torch.randn(300, 8), torch.randn(300, 20, 2))
    assert out.shape == (300, 20, 8)
    step = model.step(torch.randn(4, 8), torch.randn(4, 2))
    assert step.shape == (4, 8)


def test_transformer_rollout_with_cached_keys_equals_the_full_prefix():
    """Each cached step must predict what a teacher-forced pass over the whole prefix of
    predicted states predicts; past max_frames the window slides and is recomputed."""
    torch.manual_seed(0)
    model = ACTransformer(8, 2, dim=16, depth=2, heads=2, max_frames=6)
    state, actions = torch.randn(5, 8), torch.randn(5, 6, 2)
    rolled = model.rollout(state, actions)
    for t in range(6):
        prefix = torch.cat([state[:, None], rolled[:, :t]], dim=1)
        full = model(prefix, actions[:, :t + 1])[:, -1]
        torch.testing.assert_close(rolled[:, t], full, atol=1e-5, rtol=1e-5)
    rolled.sum().backward()  # the multi-step training loss flows through the cache
    assert model.time.grad.abs().sum() > 0
    longer = model.rollout(state, torch.randn(5, 9, 2))  # 9 > max_frames: sliding window
    assert longer.shape == (5, 9, 8) and torch.isfinite(longer).all()


def _cfg(data, out, **kw) -> TrainConfig:
    base = dict(data=str(data.path), steps=4, batch_size=8, horizon=3, log_every=2,
                save_every=2, out=str(out), progress=False, latent_dim=16, hidden=32,
                held_out=0.34)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("predictor", ["mlp", "transformer"])
def test_end_to_end_recipe_learns_and_reports(two_rooms_data, tmp_path, predictor):
    summary = train(_cfg(two_rooms_data, tmp_path / "run", predictor=predictor, steps=6))
    report = summary["report"]
    assert [r["horizon"] for r in report["horizons"]] == [1, 5, 10]
    assert (tmp_path / "run" / "prediction_error.png").exists()
    assert (tmp_path / "run" / "energy_landscape.png").exists()
    assert 0.0 <= report["latent_step_ratio"] < 2.0
    # The log: the learning rate and the latents' RankMe beside each loss part, the same
    # scalars in TensorBoard, and the curves plotted.
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").open()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert rows[0]["lr"] < rows[1]["lr"]  # warming up
    assert all(1.0 <= r["rankme"] <= 16 for r in rows)  # latent_dim 16
    assert {"prediction", "variance", "covariance", "inverse"} <= rows[-1].keys()
    assert summary["rankme"] == rows[-1]["rankme"]
    assert Path(summary["plot"]).name == "training.png" and Path(summary["plot"]).exists()
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    net, ckpt = net_from_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["step"] == 6 and ckpt["env_id"] == "worldmodel/TwoRooms-v0"


def test_collapsing_latents_warn(two_rooms_data, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        train(_cfg(two_rooms_data, tmp_path / "run", steps=2, rankme_warn=1e9))
    assert "latents may be collapsing" in caplog.text


def test_latent_step_ratio_tells_smooth_latents_from_a_hash():
    from worldmodel.world_model.report import latent_step_ratio

    g = torch.Generator().manual_seed(0)
    walk = (0.05 * torch.randn(8, 200, 16, generator=g)).cumsum(1)  # smooth in time
    noise = torch.randn(8, 200, 16, generator=g)  # each frame unrelated to the last
    assert latent_step_ratio(walk) < 0.3
    assert abs(latent_step_ratio(noise) - 2 ** 0.5) < 0.05
    assert latent_step_ratio(torch.ones(2, 5, 3)) == 0.0


def test_frozen_recipe_on_a_pretrained_encoder(two_rooms_data, tmp_path):
    pretrain(PretrainConfig(data=str(two_rooms_data.path), model="micro", patch_size=16,
                            batch_size=8, steps=2, num_workers=0, out=str(tmp_path / "pre"),
                            progress=False, predictor_dim=32, predictor_depth=1,
                            predictor_heads=2))
    cfg = _cfg(two_rooms_data, tmp_path / "wm", recipe="frozen", predictor="transformer",
               perception_checkpoint=str(tmp_path / "pre" / "last.pt"))
    summary = train(cfg)
    assert summary["steps"] == 4
    net, _ = net_from_checkpoint(tmp_path / "wm" / "last.pt")
    assert not any(p.requires_grad for p in net.encoder.parameters())
    assert not torch.equal(net.encoder.std, torch.ones_like(net.encoder.std))  # fitted, saved
    _cached_latents_give_the_same_loss(net, two_rooms_data, horizon=3)


def test_keypoint_pooling_follows_a_small_object_smoothly():
    """A 6-px square sliding across a static scene: its keypoint moves with it, step by
    step, while the mean-pooled features of the same frozen ViT jump about (a hash)."""
    from worldmodel.jepa.vit import VisionTransformer, ViTConfig
    from worldmodel.perception.frozen_vit import FrozenPooledEncoder
    from worldmodel.world_model.report import latent_step_ratio

    torch.manual_seed(0)
    vit = VisionTransformer(ViTConfig(image_size=64, patch_size=8, dim=64, depth=2, heads=2))
    g = torch.Generator().manual_seed(0)
    scene = torch.randint(0, 60, (3, 64, 64), generator=g, dtype=torch.uint8)

    def frames(xs, y=20):
        out = scene.repeat(len(xs), 1, 1, 1)
        for i, x in enumerate(xs):
            out[i, :, y:y + 6, x:x + 6] = 255
        return out

    keypoints = FrozenPooledEncoder(vit, pooling="keypoints")
    keypoints.fit_scene(frames(torch.randint(0, 58, (256,), generator=g).tolist(),
                               y=40))
    path = list(range(2, 56))
    x = keypoints(frames(path))[:, 0]  # mean x of the first power, unstandardised
    assert keypoints.latent_dim == 15
    assert torch.corrcoef(torch.stack([x, torch.tensor(path, dtype=x.dtype)]))[0, 1] > 0.98
    assert (x[:-1] - x[1:]).max() < 0.01 and x[-1] - x[0] > 0.5  # of the grid's 0 to 1
    mean = FrozenPooledEncoder(vit)(frames(path))
    smooth, hashed = (latent_step_ratio(z[None]) for z in (keypoints(frames(path)), mean))
    assert smooth < 0.3 < hashed
    with pytest.raises(ValueError, match="pooling must be"):
        FrozenPooledEncoder(vit, pooling="max")
    clip = VisionTransformer(ViTConfig(image_size=64, patch_size=8, dim=64, depth=1, heads=2,
                                       frames=2, tubelet=2))
    with pytest.raises(ValueError, match="pooling=mean"):
        FrozenPooledEncoder(clip, pooling="keypoints")


def test_frozen_recipe_with_keypoints_saves_its_scene(two_rooms_data, tmp_path):
    pretrain(PretrainConfig(data=str(two_rooms_data.path), model="micro", patch_size=16,
                            batch_size=8, steps=2, num_workers=0, out=str(tmp_path / "pre"),
                            progress=False, predictor_dim=32, predictor_depth=1,
                            predictor_heads=2))
    train(_cfg(two_rooms_data, tmp_path / "wm", recipe="frozen", pooling="keypoints",
               perception_checkpoint=str(tmp_path / "pre" / "last.pt")))
    net, _ = net_from_checkpoint(tmp_path / "wm" / "last.pt")
    assert net.encoder.latent_dim == 15 and net.encoder.scene.abs().sum() > 0  # fitted, saved
    _cached_latents_give_the_same_loss(net, two_rooms_data, horizon=3)


def test_resume_equals_an_uninterrupted_run(two_rooms_data, tmp_path):
    train(_cfg(two_rooms_data, tmp_path / "straight", steps=4))
    train(_cfg(two_rooms_data, tmp_path / "split", steps=4, max_minutes=1e-9))
    train(_cfg(two_rooms_data, tmp_path / "split", steps=4, resume=True))
    a = load(tmp_path / "straight" / "last.pt")["model"]
    b = load(tmp_path / "split" / "last.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    with pytest.raises(CheckpointError, match="made with horizon=3, this run asks for 4"):
        train(_cfg(two_rooms_data, tmp_path / "split", horizon=4, resume=True))


def test_sigterm_checkpoints_the_step_and_exits_143(two_rooms_data, tmp_path, signal_at_step,
                                                    capsys):
    from worldmodel.cli import main

    run = tmp_path / "run"
    args = ["train", f"data={two_rooms_data.path}", "steps=6", "batch_size=8", "horizon=3",
            "log_every=1", "save_every=100", f"out={run}", "progress=false", "latent_dim=16",
            "hidden=32", "held_out=0.34"]
    signal_at_step(signal.SIGTERM, 3)
    assert main(args) == 143  # the shell's code for death by SIGTERM: not finished
    assert "resume=true" in capsys.readouterr().err
    assert load(run / "last.pt")["step"] == 3
    assert len((run / "log.jsonl").read_text().splitlines()) == 3  # rows written as logged
    assert not (run / "report.json").exists()  # the report waits for the finished run
    assert main([*args, "resume=true"]) == 0
    assert load(run / "last.pt")["step"] == 6 and (run / "report.json").exists()


def test_minutes_schedule_trains_until_the_budget(two_rooms_data, tmp_path):
    """schedule=minutes: the run ends with its wall-clock budget, not after `steps`."""
    run = tmp_path / "clock"
    train(_cfg(two_rooms_data, run, schedule="minutes", max_minutes=0.02, steps=2))
    ckpt = load(run / "last.pt")
    assert ckpt["seconds"] >= 1.2 and ckpt["step"] > 2
    with pytest.raises(ValueError, match="max_minutes=15"):
        train(_cfg(two_rooms_data, tmp_path / "x", schedule="minutes"))


def test_init_starts_from_a_checkpoint_and_refuses_another_architecture(two_rooms_data,
                                                                        tmp_path):
    train(_cfg(two_rooms_data, tmp_path / "a", steps=2))
    a = str(tmp_path / "a" / "last.pt")
    # lr 0: the run can only hold the weights it started from (weight decay scales with lr).
    train(_cfg(two_rooms_data, tmp_path / "b", steps=2, init=a, lr=0.0))
    before, after = load(a)["model"], load(tmp_path / "b" / "last.pt")["model"]
    for key in before:
        torch.testing.assert_close(before[key], after[key], msg=key)
    train(_cfg(two_rooms_data, tmp_path / "c", steps=2, lr=0.0))
    fresh = load(tmp_path / "c" / "last.pt")["model"]
    assert any(not torch.equal(before[k], fresh[k]) for k in before)
    with pytest.raises(CheckpointError, match="init checkpoint"):
        train(_cfg(two_rooms_data, tmp_path / "d", steps=2, init=a, latent_dim=8))


def test_bad_input(two_rooms_data, tmp_path):
    with pytest.raises(DatasetError, match="horizon"):
        train(_cfg(two_rooms_data, tmp_path / "a", horizon=50))
    with pytest.raises(ValueError, match="perception_checkpoint"):
        train(_cfg(two_rooms_data, tmp_path / "b", recipe="frozen"))
    with pytest.raises(ValueError, match="needs recipe=frozen"):
        train(_cfg(two_rooms_data, tmp_path / "c", pooling="keypoints"))
    train(_cfg(two_rooms_data, tmp_path / "wm", steps=2))
    path = str(tmp_path / "wm" / "last.pt")
    env = gym.make("worldmodel/TwoRooms-v0", image_size=32)
    with pytest.raises(ValueError, match="64px"):
        build_perception(ModuleConfig("learned", path), env)
    other = gym.make("worldmodel/PointRoom-v0")
    with pytest.raises(ValueError, match="TwoRooms"):
        build_world_model(ModuleConfig("learned", path), other)
    wm = build_world_model(ModuleConfig("learned", path), gym.make("worldmodel/TwoRooms-v0"))
    assert isinstance(wm, LearnedWorldModel)
    drawn_otherwise = gym.make("worldmodel/TwoRooms-v0", door_width=0.3)
    with pytest.raises(ValueError, match="same env.kwargs"):
        build_perception(ModuleConfig("learned", path), drawn_otherwise)
    slower = gym.make("worldmodel/TwoRooms-v0", max_step=0.03)  # other dynamics, same frames
    build_perception(ModuleConfig("learned", path), slower)
    with pytest.raises(ValueError, match="2-d actions"):
        wm.rollout(torch.zeros(1, 16), torch.zeros(1, 3, 3))
    with pytest.raises(CheckpointError):
        net_from_checkpoint(tmp_path / "missing.pt")


def test_frame_history_windows_and_rolling_stack():
    frames = torch.arange(5).float().view(1, 5, 1, 1, 1).expand(2, 5, 3, 2, 2)  # frame t = t
    windows = stack_frames(frames, 2)
    assert windows.shape == (2, 4, 6, 2, 2)
    assert windows[0, :, 0, 0, 0].tolist() == [0, 1, 2, 3]  # oldest frame first
    assert windows[0, :, 3, 0, 0].tolist() == [1, 2, 3, 4]
    padded = stack_frames(frames, 2, pad=True)
    assert padded.shape == (2, 5, 6, 2, 2) and padded[0, 0, :, 0, 0].tolist() == [0] * 6
    history = FrameHistory(2)
    first = history.push(frames[:, 0])
    assert first[0, :, 0, 0].tolist() == [0] * 6  # an episode starts at rest
    second = history.push(frames[:, 1])
    torch.testing.assert_close(second, windows[:, 0])
    history.clear()
    assert history.push(frames[:, 3])[0, :, 0, 0].tolist() == [3] * 6
    # an environment that leaves the batch takes its history with it
    distinct = frames + torch.tensor([0.0, 100.0]).view(2, 1, 1, 1, 1)
    history.clear()
    history.push(distinct[:, 0])
    history.select(torch.tensor([1]))
    kept = history.push(distinct[1:, 1])
    assert kept.shape == (1, 6, 2, 2) and kept[0, :, 0, 0].tolist() == [100] * 3 + [101] * 3


def _tiny_agent(path: str, env):
    """An agent planning with a small search on the trained model at ``path``, reset on a
    first episode of ``env``; returns it and the first observation."""
    from worldmodel.evaluation import PlanConfig, build_agent

    cfg = PlanConfig(perception=ModuleConfig("learned", path),
                     world_model=ModuleConfig("learned", path), progress=False)
    cfg.actor.params = {"samples": 20, "iterations": 1, "elites": 4}
    agent = build_agent(cfg, env)
    obs, _ = env.reset(seed=0)
    agent.reset(obs["goal"][None])
    return agent, obs


def test_probe_reads_a_world_models_latents_with_their_history(two_rooms_data, tmp_path):
    """`jepa probe` on a `jepa train` checkpoint: the latents the planner compares, each
    read with the frame before it, and the world model's report on the probe's data."""
    from worldmodel.probe import ProbeConfig, load_encoder, probe

    train(_cfg(two_rooms_data, tmp_path / "wm", frames=2, steps=2))
    path = str(tmp_path / "wm" / "last.pt")
    encoder, clip, _ = load_encoder(path, 64)
    net, _ = net_from_checkpoint(path)
    eps = two_rooms_data.episodes["pixels"][:2]  # [2, T, 3, 64, 64]
    assert clip == 2
    torch.testing.assert_close(encoder.pooled(eps[:, 3:5]), net.encode(eps)[:, 3].float())
    result = probe(ProbeConfig(checkpoint=path, data=str(two_rooms_data.path), max_frames=60,
                               mlp_steps=20, out=str(tmp_path / "probe"), held_out=0.34))
    assert result["linear_r2"] <= 1.0 and result["rankme"] > 1.0
    assert [r["horizon"] for r in result["world_model_report"]["horizons"]] == [1, 5, 10]
    assert (tmp_path / "probe" / "prediction_error.png").exists()
    with pytest.raises(ValueError, match="drop blocks=true"):
        probe(ProbeConfig(checkpoint=path, data=str(two_rooms_data.path), blocks=True))


def test_two_frame_encoder_trains_and_plans(two_rooms_data, tmp_path):
    train(_cfg(two_rooms_data, tmp_path / "wm", frames=2, steps=2))
    path = str(tmp_path / "wm" / "last.pt")
    net, _ = net_from_checkpoint(path)
    assert net.encoder.frames == 2
    env = gym.make("worldmodel/TwoRooms-v0")
    perception = build_perception(ModuleConfig("learned", path), env)
    frame = torch.zeros(4, 3, 64, 64, dtype=torch.uint8)
    still_latent = perception.encode(frame)  # a goal image: read as a body at rest
    torch.testing.assert_close(still_latent, perception.encode(frame.repeat(1, 2, 1, 1)))
    with pytest.raises(ValueError, match="history"):
        perception.encode(torch.zeros(4, 9, 64, 64, dtype=torch.uint8))
    # The agent hands the perception its last two observations.
    agent, obs = _tiny_agent(path, env)
    frames = [obs["pixels"][None]]
    agent.step({"pixels": frames[0]})
    obs, *_ = env.step(np.array([1.0, 0.0], np.float32))
    frames.append(obs["pixels"][None])
    agent.step({"pixels": frames[1]})
    stacked = torch.as_tensor(np.concatenate(frames, axis=1))
    torch.testing.assert_close(agent.memory.read()["state"][-1], perception.encode(stacked)[0])


def test_two_processes_match_one_on_the_same_global_batch(two_rooms_data, tmp_path):
    """`jepa train` under torchrun: VICReg statistics over the global batch, DDP gradients.

    One full-lr step, compared exactly: later Adam steps amplify float-order differences
    of near-zero gradients, which says nothing about the synchronisation.
    """
    import subprocess
    import sys

    from worldmodel.world_model.net import build_net

    def cfg(name):
        return _cfg(two_rooms_data, tmp_path / name, steps=1, warmup=0, frames=2, bf16=False)

    train(cfg("one"))
    args = [f"{k}={v}" for k, v in vars(cfg("two")).items()
            if not isinstance(v, list) and v is not None]
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                    "--master_port=29541", "-m", "worldmodel.cli", "train", *args],
                   check=True, capture_output=True, timeout=300)
    torch.manual_seed(0)
    init = build_net(cfg("init"), EpisodeDataset.open(two_rooms_data.path)).state_dict()
    a = load(tmp_path / "one" / "last.pt")["model"]
    b = load(tmp_path / "two" / "last.pt")["model"]
    assert not torch.allclose(a["encoder.head.weight"], init["encoder.head.weight"])
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5, msg=key)


def test_mlp_rollout_equals_stepping_and_bf16_copy_stays_close():
    torch.manual_seed(0)
    model = MLPPredictor(16, 2, hidden=32, depth=2)
    state, actions = torch.randn(5, 16), torch.randn(5, 4, 2)
    stepped, z = [], state
    for t in range(4):
        z = model.step(z, actions[:, t])
        stepped.append(z)
    torch.testing.assert_close(model.rollout(state, actions), torch.stack(stepped, 1))
    with torch.no_grad():  # the planning path writes in place
        torch.testing.assert_close(model.rollout(state, actions), torch.stack(stepped, 1))
    fast = LearnedWorldModel(model, bf16=True).rollout(state, actions)
    assert fast.dtype == torch.float32
    torch.testing.assert_close(fast, torch.stack(stepped, 1), atol=0.1, rtol=0.05)
    assert next(model.parameters()).dtype == torch.float32  # the original stays fp32


def _normed_mlp(depth: int, z_dim: int, hidden: int = 32) -> MLPPredictor:
    model = MLPPredictor(16, 2, hidden=hidden, depth=depth, z_dim=z_dim)
    with torch.no_grad():  # a norm scale and shift of its own: the fold must carry both
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.normal_()
    return model


@pytest.mark.skipif(not fused_ops_available(),
                    reason="this PyTorch build or CPU has no oneDNN fused linear ops")
def test_fused_planning_rollout_matches_the_predictor():
    torch.manual_seed(0)
    for depth, z_dim in ((1, 0), (2, 3)):
        model = _normed_mlp(depth, z_dim)
        state, actions = torch.randn(5, 16), torch.randn(5, 4, 2)
        for z in ([None, torch.randn(5, 4, z_dim)] if z_dim else [None]):
            with torch.no_grad():
                want = model.rollout(state, actions, z)
                got = FusedMLPRollout(model)(state, actions, z)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not fused_ops_available(torch.bfloat16),
                    reason="this PyTorch build or CPU has no oneDNN bf16 kernels")
def test_bf16_fused_planning_rollout_stays_close_and_keeps_gradients():
    torch.manual_seed(0)
    model = _normed_mlp(2, 3)
    state, actions = torch.randn(5, 16), torch.randn(5, 4, 2)
    with torch.no_grad():
        want = model.rollout(state, actions)
    world, calls = LearnedWorldModel(model, bf16=True), []
    fused = world._fused

    def spy(*inputs):
        calls.append(1)
        return fused(*inputs)

    world._fused = spy
    with torch.no_grad():  # planning: the fused path, close to the fp32 model
        fast = world.rollout(state, actions)
    assert calls == [1]
    torch.testing.assert_close(fast, want, atol=0.1, rtol=0.05)
    actions.requires_grad_(True)  # the gradient planner: the predictor's own rollout
    world.rollout(state, actions).sum().backward()
    assert calls == [1] and actions.grad.abs().sum() > 0
    # Its state stays fp32 between steps: closer to the fp32 model over a long rollout
    # than the bf16 predictor's own rollout, whose state is rounded every step.
    long_actions = torch.randn(5, 32, 2)
    with torch.no_grad():
        exact = model.rollout(state, long_actions)
        fused_err = (world.rollout(state, long_actions) - exact).abs().max()
        world._fused = None
        plain_err = (world.rollout(state, long_actions) - exact).abs().max()
    assert fused_err < plain_err


@pytest.mark.skipif(not (fused_ops_available() and int8_linear_available()),
                    reason="this PyTorch build or CPU has no fused or int8 linear ops")
def test_int8_hidden_layers_keep_the_plans_ranking():
    torch.manual_seed(0)
    model = _normed_mlp(2, 0, hidden=128)
    with torch.no_grad():  # a trained model's slow, action-driven latents
        model.net[0].weight[:, 16:] *= 10.0
        model.net[-1].weight *= 0.1
    state = torch.randn(1, 16).expand(200, -1)
    actions = (torch.randn(200, 20, 2).cumsum(1) * 0.3).tanh()
    exact_world = LearnedWorldModel(model)
    int8_world = LearnedWorldModel(model, int8=True)
    with torch.no_grad():
        exact, fast = exact_world.rollout(state, actions), int8_world.rollout(state, actions)
    assert not torch.equal(fast, exact)  # the int8 layers ran
    spread = exact.std(0).norm(dim=-1).mean()
    assert (fast - exact).norm(dim=-1).mean() < 0.05 * spread
    goal = exact[0, -1]
    cost_exact, cost_fast = ((z - goal).pow(2).sum((-1, -2)) for z in (exact, fast))
    best_exact, best_fast = (set(c.argsort()[:20].tolist()) for c in (cost_exact, cost_fast))
    assert len(best_exact & best_fast) >= 17  # the elites a CEM keeps, nearly all shared
    with pytest.raises(ValueError, match="world_model.int8=false"):
        LearnedWorldModel(model, int8=True, fused=False)


def test_vjepa_predictor_starts_the_action_conditioned_one(two_rooms_data, tmp_path):
    """V-JEPA 2-AC: the pretrained clip encoder reads the frame history, frozen; the
    action-conditioned transformer starts from the pretraining predictor's weights."""
    pretrain(PretrainConfig(data=str(two_rooms_data.path), method="vjepa", model="micro",
                            patch_size=16, frames=2, tubelet=2, batch_size=8, steps=2,
                            num_workers=0, out=str(tmp_path / "pre"), progress=False,
                            predictor_dim=32, predictor_depth=1, predictor_heads=2))
    from worldmodel.jepa.pretrain import model_from_checkpoint

    jepa, _ = model_from_checkpoint(tmp_path / "pre" / "last.pt")
    ac = ACTransformer.from_jepa_predictor(jepa.predictor, action_dim=2)
    for key, value in jepa.predictor.blocks.state_dict().items():
        torch.testing.assert_close(ac.blocks.state_dict()[key], value)
    torch.testing.assert_close(ac.out.weight, jepa.predictor.head.weight)
    assert ac.rollout(torch.randn(3, 96), torch.randn(3, 4, 2)).shape == (3, 4, 96)  # micro: 96
    pre = str(tmp_path / "pre" / "last.pt")
    with pytest.raises(ValueError, match="frames=2"):
        train(_cfg(two_rooms_data, tmp_path / "x", recipe="frozen", perception_checkpoint=pre))
    with pytest.raises(ValueError, match="predictor=transformer"):
        train(_cfg(two_rooms_data, tmp_path / "y", recipe="frozen", frames=2,
                   perception_checkpoint=pre, pretrained_predictor=True))
    with pytest.raises(ValueError, match="pooling=mean"):  # a clip encoder has no 2-D grid
        train(_cfg(two_rooms_data, tmp_path / "z", recipe="frozen", frames=2,
                   perception_checkpoint=pre, pooling="keypoints"))
    train(_cfg(two_rooms_data, tmp_path / "wm", recipe="frozen", predictor="transformer",
               frames=2, perception_checkpoint=pre, pretrained_predictor=True))
    net, _ = net_from_checkpoint(tmp_path / "wm" / "last.pt")
    assert net.encoder.frames == 2 and net.predictor.blocks[0].attn.heads == 2
    _cached_latents_give_the_same_loss(net, two_rooms_data, horizon=3)


def test_a_lejepa_encoder_serves_the_frozen_recipe_but_has_no_predictor(two_rooms_data,
                                                                        tmp_path):
    """LeJEPA trains on clips and leaves a frame encoder: the frozen recipe reads single
    frames with it; it trains no predictor for ``pretrained_predictor`` to start from."""
    pretrain(PretrainConfig(data=str(two_rooms_data.path), method="lejepa", model="micro",
                            patch_size=16, frames=2, batch_size=8, steps=2, num_workers=0,
                            projector=[32, 8], out=str(tmp_path / "pre"), progress=False))
    pre = str(tmp_path / "pre" / "last.pt")
    with pytest.raises(ValueError, match="LeJEPA run, which trains no predictor"):
        train(_cfg(two_rooms_data, tmp_path / "x", recipe="frozen", predictor="transformer",
                   perception_checkpoint=pre, pretrained_predictor=True))
    train(_cfg(two_rooms_data, tmp_path / "wm", recipe="frozen", perception_checkpoint=pre))
    net, _ = net_from_checkpoint(tmp_path / "wm" / "last.pt")
    assert net.encoder.frames == 1


def _cached_latents_give_the_same_loss(net, data, horizon: int) -> None:
    """The frozen recipe trains on latents encoded once: the loss must equal the loss of
    encoding the same window's pixels on the fly (frame history included)."""
    from worldmodel.data.loaders import EncodedTransitions, Transitions
    from worldmodel.world_model.report import encode_episodes

    dataset = EpisodeDataset.open(data.path)
    window = horizon * net.frameskip + net.encoder.frames - 1
    latents = encode_episodes(net, dataset.episodes["pixels"])
    pixels = Transitions(dataset, window).__getitems__([0, 7, 30])
    encoded = EncodedTransitions(dataset, latents, window).__getitems__([0, 7, 30])
    frames = torch.cat([pixels["pixels"][:, None], pixels["next_pixels"]], dim=1)
    with torch.no_grad():
        direct, _ = net(frames, pixels["action"])
        cached, _ = net(encoded["latent"], encoded["action"], encoded=True)
    torch.testing.assert_close(cached, direct)
    with pytest.raises(DatasetError, match="do not cover"):
        EncodedTransitions(dataset, latents[:-1], window)


def test_frameskip_steps_the_model_every_kth_frame(two_rooms_data, tmp_path):
    """frameskip=2: one model step spans two env steps and takes their two actions as one;
    plans stay sequences of env actions."""
    summary = train(_cfg(two_rooms_data, tmp_path / "wm", frames=2, frameskip=2, steps=2))
    T = EpisodeDataset.open(two_rooms_data.path).meta.episode_length
    rows = summary["report"]["horizons"]
    assert [r["env_steps"] for r in rows] == [2 * r["horizon"] for r in rows]
    assert all(r["env_steps"] <= T for r in rows)
    path = str(tmp_path / "wm" / "last.pt")
    net, _ = net_from_checkpoint(path)
    assert net.frameskip == 2 and net.predictor.action_dim == 4
    # Encoding every frame once and taking every 2nd latent = encoding only those frames.
    _cached_latents_give_the_same_loss(net, two_rooms_data, horizon=3)
    # env actions (a1, a2) form the model action [a1, a2]
    actions = torch.arange(12.0).reshape(1, 6, 2)
    torch.testing.assert_close(net.chunk(actions)[0, 1], torch.tensor([4.0, 5.0, 6.0, 7.0]))
    env = gym.make("worldmodel/TwoRooms-v0")
    model = build_world_model(ModuleConfig("learned", path, bf16=False), env)
    assert model.frameskip == 2 and model.action_dim == 2
    state = torch.randn(3, 16)
    torch.testing.assert_close(model.rollout(state, actions.expand(3, -1, -1)),
                               net.predictor.rollout(state, net.chunk(actions).expand(3, -1, -1)))
    with pytest.raises(ValueError, match="multiple of 2"):
        model.rollout(state, torch.zeros(3, 5, 2))
    # A Mode-1 policy imagines through it holding each action for the model step.
    from worldmodel.actor.policy import PolicyNet

    imagined = PolicyNet(16, 2, hidden=8).imagine(model, state, torch.randn(3, 16), 5)
    assert imagined.shape == (3, 5, 2)
    torch.testing.assert_close(imagined[:, 0], imagined[:, 1])
    # The agent plans with it.
    agent, obs = _tiny_agent(path, env)
    assert agent.step({"pixels": obs["pixels"][None]}).shape == (1, 2)


def test_latent_variable_z(two_rooms_data, tmp_path):
    torch.manual_seed(0)
    model = MLPPredictor(8, 2, hidden=16, depth=1, z_dim=2)
    state, actions, z = torch.randn(4, 8), torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    torch.testing.assert_close(model.rollout(state, actions),
                               model.rollout(state, actions, torch.zeros(4, 3, 2)))
    assert not torch.allclose(model.rollout(state, actions, z), model.rollout(state, actions))
    torch.testing.assert_close(model.rollout(state, actions, z)[:, 0],
                               model.step(state, actions[:, 0], z[:, 0]))
    with pytest.raises(ValueError, match="z_dim=0"):
        MLPPredictor(8, 2).step(state, actions[:, 0], z[:, 0])
    summary = train(_cfg(two_rooms_data, tmp_path / "wm", z_dim=2, steps=2, log_every=1))
    assert summary["steps"] == 2
    logged = [json.loads(line) for line in (tmp_path / "wm" / "log.jsonl").open()]
    assert "latent_z" in logged[-1]  # the penalty on z's size is part of the loss
    net, _ = net_from_checkpoint(tmp_path / "wm" / "last.pt")
    assert net.predictor.z_dim == 2
    mean = LearnedWorldModel(net.predictor)
    sampled = LearnedWorldModel(net.predictor, z_std=1.0)
    s, a = torch.randn(5, 16), torch.randn(5, 4, 2)
    torch.testing.assert_close(mean.rollout(s, a), mean.rollout(s, a))  # z = 0: deterministic
    assert not torch.allclose(sampled.rollout(s, a), sampled.rollout(s, a))
    with pytest.raises(ValueError, match="predictor=mlp"):
        train(_cfg(two_rooms_data, tmp_path / "t", z_dim=2, predictor="transformer"))


def test_report_decodes_the_position_success_is_measured_on(tmp_path, monkeypatch):
    # Reacher's state starts with unbounded joint angles; the report's position must be
    # the fingertip, as the task's success test sees it.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    meta = DatasetMeta(env_id="worldmodel/Reacher-v0", image_size=64, episode_length=50,
                       action_dim=2, state_dim=8, goal_dim=2, policy="random", seed=0)
    states = torch.zeros(3, 8)
    states[1, 0] = np.pi / 2  # shoulder turned a quarter: the arm points along y
    states[2, 0] = 2 * np.pi  # a full turn: the same pose as the first
    tip = agent_position(meta, states)
    assert tip.shape == (3, 2)
    torch.testing.assert_close(tip[0], torch.tensor([0.21, 0.0]))
    torch.testing.assert_close(tip[1], torch.tensor([0.0, 0.21]), atol=1e-6, rtol=0)
    torch.testing.assert_close(tip[2], tip[0], atol=1e-6, rtol=0)


def test_plan_ranking_scores_the_shipped_model_against_the_simulator():
    from worldmodel.checkpoints import shipped
    from worldmodel.world_model.ranking import rank_correlation, rank_plans

    assert rank_correlation(np.arange(5.0), np.arange(5.0) ** 3) == pytest.approx(1.0)
    assert rank_correlation(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)
    env_id = "worldmodel/TwoRooms-v0"
    r = rank_plans(str(shipped(env_id)), env_id, starts=2, plans=40, horizon=8)
    # The shipped model predicts where plans end far better than copy-last, and its cost
    # orders plans with the simulator's outcome, not against it.
    assert r["latent_l1"] < 0.6 * r["latent_l1_copy_last"]
    assert r["rank_correlation"] > 0.0
    assert r["best10_distance"] <= r["model_top10_distance"] <= r["median_distance"] + 0.05
