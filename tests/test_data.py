"""Datasets on disk and the loaders: round trip, append, interruption, boundaries, errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from worldmodel.config import EnvConfig
from worldmodel.data.collect import CollectConfig, collect
from worldmodel.data.dataset import DatasetError, EpisodeDataset
from worldmodel.data.loaders import Clips, Frames, Transitions, make_loader


def test_round_trip_shapes_and_metadata(two_rooms_data):
    data = EpisodeDataset.open(two_rooms_data.path, env_id="worldmodel/TwoRooms-v0",
                               image_size=64)
    assert len(data) == 6 and len(data.meta.chunks) == 2  # chunks of 4 + 2
    ep = data.episodes
    assert ep["pixels"].shape == (6, 13, 3, 64, 64) and ep["pixels"].dtype == torch.uint8
    assert ep["action"].shape == (6, 12, 2)
    assert ep["state"].shape == (6, 13, 2)
    assert ep["goal_pixels"].shape == (6, 3, 64, 64)
    assert ep["done"][:, -1].all() and not ep["done"][:, :-1].any()
    assert data.meta.policy == "noisy_expert" and data.meta.seed == 0
    # Episodes differ (each sub-environment got its own seed).
    assert not torch.equal(ep["state"][0, 0], ep["state"][1, 0])


def test_append_adds_new_episodes(tmp_path):
    cfg = CollectConfig(env=EnvConfig(episode_length=5, num_envs=2), episodes=2,
                        out=str(tmp_path / "d"), progress=False)
    collect(cfg)
    with pytest.raises(DatasetError, match="append=true"):
        collect(cfg)
    cfg.append = True
    data, summary = collect(cfg)
    assert len(data) == 4 and summary["episodes_total"] == 4
    states = data.episodes["state"][:, 0]
    assert len({tuple(s.tolist()) for s in states}) == 4  # appended episodes are new ones
    # Each chunk records the behaviour that made it: appended chunks may differ.
    cfg.noise, cfg.noise_correlation = 0.7, 0.9
    data, _ = collect(cfg)
    chunks = data.meta.chunks
    assert (chunks[0]["noise"], chunks[-1]["noise"], chunks[-1]["noise_correlation"]) == \
        (0.3, 0.7, 0.9)


def test_correlated_expert_noise():
    """AR(1) noise (the smooth random policy is that noise alone): the set std, the set
    lag-1 correlation, anew after reset."""
    import numpy as np

    from worldmodel.data.policies import make_policy

    policy = make_policy("smooth_random", "worldmodel/TwoRooms-v0", 2, noise=0.1,
                         correlation=0.9)
    rng = np.random.default_rng(0)
    info = {"state": np.zeros((400, 2))}
    noise = np.stack([policy(info, rng) for _ in range(60)])  # [T, N, A]
    assert abs(noise.std() - 0.1) < 0.01
    lag1 = (noise[1:] * noise[:-1]).mean() / (noise * noise).mean()
    assert abs(lag1 - 0.9) < 0.03
    policy.reset()
    after = policy(info, rng)
    assert abs(np.corrcoef(after.ravel(), noise[-1].ravel())[0, 1]) < 0.2
    with pytest.raises(ValueError, match="correlation"):
        make_policy("noisy_expert", "worldmodel/TwoRooms-v0", 2, correlation=1.0)


def test_interrupted_write_leaves_a_readable_dataset(tmp_path):
    cfg = CollectConfig(env=EnvConfig(episode_length=5, num_envs=2), episodes=2,
                        out=str(tmp_path / "d"), progress=False)
    data, _ = collect(cfg)
    # A chunk half-written when the process died: present on disk, absent from meta.json.
    shutil.copytree(data.path / "chunk_00000", data.path / ".chunk_00001.tmp")
    again = EpisodeDataset.open(data.path)
    assert len(again) == 2 and again.episodes.shape == (2,)
    cfg.append = True
    data, _ = collect(cfg)
    assert len(data) == 4 and not (data.path / ".chunk_00001.tmp").exists()


def test_bad_paths_and_mismatches(tmp_path, two_rooms_data):
    with pytest.raises(DatasetError, match="does not exist"):
        EpisodeDataset.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DatasetError, match="not a dataset"):
        EpisodeDataset.open(tmp_path / "plain")
    with pytest.raises(DatasetError, match="PointRoom"):
        EpisodeDataset.open(two_rooms_data.path, env_id="worldmodel/PointRoom-v0")
    with pytest.raises(DatasetError, match="32x32"):
        EpisodeDataset.open(two_rooms_data.path, image_size=32)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text("{not json")
    with pytest.raises(DatasetError, match="corrupt"):
        EpisodeDataset.open(bad)
    (bad / "meta.json").write_text(json.dumps({"env_id": "x"}))
    with pytest.raises(DatasetError, match="corrupt"):
        EpisodeDataset.open(bad)


def test_unknown_env_and_policy(tmp_path):
    with pytest.raises(ValueError, match="unknown environment id"):
        collect(CollectConfig(env=EnvConfig(id="worldmodel/Nope-v0"), out=str(tmp_path / "x")))
    with pytest.raises(ValueError, match="unknown policy"):
        collect(CollectConfig(env=EnvConfig(episode_length=3, num_envs=1), policy="greedy",
                              out=str(tmp_path / "y"), progress=False))
    assert not (tmp_path / "y").exists()  # no empty dataset left to block the corrected run
    with pytest.raises(ValueError, match="noise correlation"):
        collect(CollectConfig(env=EnvConfig(episode_length=3, num_envs=1),
                              noise_correlation=1.5, out=str(tmp_path / "y"), progress=False))
    assert not (tmp_path / "y").exists()


def _index_of(data, state):
    """(episode, t) of a true state, found by exact match."""
    hits = (data.episodes["state"] == state).all(-1).nonzero()
    assert len(hits) == 1
    return tuple(hits[0].tolist())


def test_transitions_stay_inside_episodes(two_rooms_data):
    data = two_rooms_data
    ds = Transitions(data, horizon=4)
    assert len(ds) == 6 * (12 - 4 + 1)  # starts 0..8 of 13 observations
    batch = ds.__getitems__(list(range(len(ds))))
    assert batch["next_pixels"].shape == (len(ds), 4, 3, 64, 64)
    assert batch["action"].shape == (len(ds), 4, 2)
    for i in range(len(ds)):
        e, t = _index_of(data, batch["state"][i])
        assert t <= 12 - 4
        torch.testing.assert_close(batch["next_state"][i], data.episodes["state"][e, t + 1:t + 5])
        torch.testing.assert_close(batch["action"][i], data.episodes["action"][e, t:t + 4])


def test_frames_and_clips_through_a_dataloader(two_rooms_data):
    frames = next(iter(make_loader(Frames(two_rooms_data), batch_size=5)))
    assert frames["pixels"].shape == (5, 3, 64, 64)
    clips = Clips(two_rooms_data, length=13, episodes=[1, 3])
    assert len(clips) == 2  # a clip of the whole episode fits once per episode
    batch = next(iter(make_loader(clips, batch_size=2)))
    assert batch["pixels"].shape == (2, 13, 3, 64, 64) and batch["action"].shape == (2, 12, 2)
    with pytest.raises(DatasetError, match="does not fit"):
        Clips(two_rooms_data, length=14)


def test_loader_shuffles_reproducibly(two_rooms_data):
    def first_states(seed):
        return next(iter(make_loader(Frames(two_rooms_data), 8, seed=seed)))["state"]

    torch.testing.assert_close(first_states(1), first_states(1))
    assert not torch.equal(first_states(1), first_states(2))


def test_step_batches_split_over_processes_and_resume_mid_epoch():
    from worldmodel.data.loaders import StepBatchSampler

    whole = list(StepBatchSampler(20, 8, steps=5, seed=3))
    assert [b[0][0] for b in whole] == [0, 1, 2, 3, 4] and all(len(b) == 8 for b in whole)
    halves = [list(StepBatchSampler(20, 8, 5, rank=r, world=2, seed=3)) for r in (0, 1)]
    assert [a + b for a, b in zip(*halves, strict=True)] == whole  # one global batch
    assert list(StepBatchSampler(20, 8, 5, start=3, seed=3)) == whole[3:]  # resume
    with pytest.raises(ValueError, match="batch_size divisible by 3"):
        StepBatchSampler(20, 8, 5, world=3)
    with pytest.raises(ValueError, match="collect more episodes"):
        StepBatchSampler(5, 8, 5)
