"""Shared fixtures. gymnasium-robotics writes maze XML into the temp folder: keep it ours."""

from __future__ import annotations

import os
import tempfile

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_tmpdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tmpdir")
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None
    yield
    if old is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old
    tempfile.tempdir = None


@pytest.fixture(scope="session")
def two_rooms_data(tmp_path_factory):
    """A small Two Rooms dataset shared by the data tests."""
    from worldmodel.config import EnvConfig
    from worldmodel.data.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("data") / "two_rooms"
    cfg = CollectConfig(env=EnvConfig(episode_length=12, num_envs=4), episodes=6, out=str(out),
                        progress=False, chunk_episodes=4)
    data, _ = collect(cfg)
    return data


@pytest.fixture
def signal_at_step(monkeypatch):
    """signal_at_step(sig, k): the process receives ``sig`` during training step k (from
    within the clock's tick, as a signal lands mid-step), as a scheduler's pre-emption would."""
    import signal

    from worldmodel.jepa.schedules import Progress

    def arm(sig: signal.Signals, k: int) -> None:
        tick, calls = Progress.tick, []

        def tick_and_signal(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == k:
                signal.raise_signal(sig)
            return tick(self, *args, **kwargs)

        monkeypatch.setattr(Progress, "tick", tick_and_signal)

    return arm
