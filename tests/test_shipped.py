"""The shipped checkpoints load with no arguments and plan: at least 4 of 5 fixed episodes."""

from __future__ import annotations

import pytest
import torch

from worldmodel.cli import main


@pytest.mark.parametrize("env", ["point_room", "two_rooms"])
def test_shipped_checkpoint_plans(env, tmp_path, capsys):
    import json

    torch.manual_seed(0)
    out = tmp_path / env
    assert main(["plan", f"env={env}", "episodes=5", "parallel=5", "video_episodes=0",
                 "progress=false", f"out={out}"]) == 0
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert summary["world_model"] == "learned" and summary["perception"] == "learned"
    assert summary["success_rate"] >= 0.8, summary


def test_no_shipped_checkpoint_names_the_way_out(tmp_path, capsys):
    assert main(["plan", "env=reacher", "episodes=1", f"out={tmp_path}"]) != 0
    err = capsys.readouterr().err
    assert "no checkpoint ships for worldmodel/Reacher-v0" in err and "jepa train" in err
