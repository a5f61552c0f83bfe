"""bf16 only where the device multiplies it natively; a forced bf16 on emulating hardware
warns, naming the setting to change."""

from __future__ import annotations

import warnings

import pytest
import torch

from worldmodel import precision
from worldmodel.precision import bf16_native, resolve_bf16


def test_auto_follows_the_hardware_and_false_keeps_fp32():
    assert resolve_bf16(None, "cpu") is bf16_native("cpu")
    assert resolve_bf16(None, torch.device("cpu")) is bf16_native("cpu")
    assert resolve_bf16(False, "cpu") is False
    assert bf16_native("meta") is False


def test_forced_bf16_on_an_emulating_cpu_warns_and_is_obeyed(monkeypatch):
    monkeypatch.setattr(precision, "bf16_native", lambda device_type: False)
    assert resolve_bf16(None, "cpu") is False
    with pytest.warns(RuntimeWarning, match=r"world_model.bf16=true.*world_model.bf16=null"):
        assert resolve_bf16(True, "cpu", "world_model.bf16") is True


def test_forced_bf16_on_a_native_cpu_is_silent(monkeypatch):
    monkeypatch.setattr(precision, "bf16_native", lambda device_type: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_bf16(True, "cpu") is True
    assert resolve_bf16(None, "cpu") is True


def test_a_training_run_records_the_precision_it_ran_in(two_rooms_data, tmp_path, monkeypatch):
    from worldmodel.jepa.checkpoint import load
    from worldmodel.world_model.train import train
    from worldmodel.world_model.train_config import TrainConfig

    monkeypatch.setattr(precision, "bf16_native", lambda device_type: False)
    out = tmp_path / "run"
    train(TrainConfig(data=str(two_rooms_data.path), steps=1, warmup=0, batch_size=4,
                      horizon=2, latent_dim=8, hidden=16, held_out=0.34, out=str(out),
                      progress=False, bf16=None))
    # a resume elsewhere reads what ran, not "auto"
    assert load(str(out / "last.pt"))["train_config"]["bf16"] is False
