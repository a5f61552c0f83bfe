"""The shipped checkpoints load with no arguments and plan: at least 4 of 5 fixed episodes
(Reacher, whose model succeeds in 93% of episodes against 97-99%: 7 of 10)."""

from __future__ import annotations

import pytest
import torch

from worldmodel.cli import main


@pytest.mark.parametrize(("env", "episodes", "needed"),
                         [("point_room", 5, 4), ("two_rooms", 5, 4), ("reacher", 10, 7),
                          ("point_maze", 5, 4), ("point_maze_medium", 5, 4)])
def test_shipped_checkpoint_plans(env, episodes, needed, tmp_path, capsys):
    import json

    torch.manual_seed(0)
    out = tmp_path / env
    assert main(["plan", f"env={env}", f"episodes={episodes}", f"parallel={episodes}",
                 "video_episodes=0", "progress=false", f"out={out}"]) == 0
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert summary["world_model"] == "learned" and summary["perception"] == "learned"
    assert round(summary["success_rate"] * episodes) >= needed, summary


def test_no_shipped_checkpoint_names_the_way_out(tmp_path, capsys, monkeypatch):
    import worldmodel.checkpoints as checkpoints

    monkeypatch.delitem(checkpoints.SHIPPED, "worldmodel/Reacher-v0")
    assert main(["plan", "env=reacher", "episodes=1", f"out={tmp_path}"]) != 0
    err = capsys.readouterr().err
    assert "no checkpoint ships for worldmodel/Reacher-v0" in err and "jepa train" in err
