"""The jepa command: help, a tiny collection, and clear errors for bad overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from worldmodel.cli import main
from worldmodel.data.dataset import EpisodeDataset


def test_console_script_help():
    exe = Path(sys.executable).parent / "jepa"
    assert exe.exists(), "the jepa console script is not installed beside python"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    assert "collect" in out and "envs" in out


def test_stage_help_lists_groups_and_example(capsys):
    assert main(["collect", "--help"]) == 0
    out = capsys.readouterr().out
    assert "env: point_room, reacher, two_rooms" in out and "example:" in out


def test_envs_lists_the_namespace(capsys):
    assert main(["envs"]) == 0
    assert "worldmodel/TwoRooms-v0" in capsys.readouterr().out


def test_tiny_collect_writes_dataset_and_preview(tmp_path, capsys):
    out = tmp_path / "d"
    rc = main(["collect", "episodes=3", "env.episode_length=6", "env.num_envs=2",
               f"out={out}", "progress=false", "preview=2"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes_total"] == 3
    assert (out / "preview.mp4").stat().st_size > 0
    assert len(EpisodeDataset.open(out)) == 3


def test_bad_overrides_are_named(capsys, tmp_path):
    assert main(["collect", "no_such_key=1"]) == 2
    assert "unknown config key 'no_such_key'" in capsys.readouterr().err
    assert main(["collect", "env=nowhere"]) == 2
    err = capsys.readouterr().err
    assert "env/nowhere" in err and "two_rooms" in err
    assert main(["collect", "episodes=many"]) == 2
    assert "episodes" in capsys.readouterr().err
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert main(["collect", f"out={tmp_path / 'none'}", "env.id=worldmodel/Nope-v0"]) == 1
    assert "unknown environment id" in capsys.readouterr().err
