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
    assert "env: point_maze, point_maze_medium, point_room, reacher, two_rooms" in out
    assert "example:" in out


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


def test_multirun_sweeps_every_combination_into_its_own_folder(tmp_path, capsys):
    from worldmodel.sweep import expand

    jobs = expand(["actor=cem,mppi", "actor.params.samples=10,20", "episodes=2"])
    assert [tag for tag, _ in jobs] == [
        "actor=cem,actor.params.samples=10", "actor=cem,actor.params.samples=20",
        "actor=mppi,actor.params.samples=10", "actor=mppi,actor.params.samples=20"]
    assert jobs[1][1] == ["episodes=2", "actor=cem", "actor.params.samples=20"]
    out = tmp_path / "d"
    rc = main(["collect", "-m", "episodes=0,2", "env.episode_length=3",
               "env.num_envs=1", f"out={out}", "progress=false", "preview=0"])
    assert rc == 1  # the first job's episodes=0 fails; the second still runs
    captured = capsys.readouterr()
    assert "episodes must be at least 1" in captured.err
    rows = json.loads(captured.out[captured.out.rindex('{\n  "sweep"'):])["sweep"]
    assert [(r["job"], r["exit_code"]) for r in rows] == [("episodes=0", 1), ("episodes=2", 0)]
    assert rows[1]["episodes_total"] == 2 and len(EpisodeDataset.open(out / "episodes=2")) == 2
    assert main(["collect", "-m", "episodes=1,(", f"out={out}"]) == 2


def test_bad_overrides_are_named(capsys, tmp_path):
    assert main(["collect", "no_such_key=1"]) == 2
    assert "unknown config key 'no_such_key'" in capsys.readouterr().err
    assert main(["collect", "env=nowhere"]) == 2
    err = capsys.readouterr().err
    assert "env/nowhere" in err and "two_rooms" in err
    assert main(["collect", "episodes=many"]) == 2
    assert "episodes" in capsys.readouterr().err
    assert main(["pretrain", "batch_size=0"]) != 0
    assert "batch_size must be positive, got 0" in capsys.readouterr().err
    assert main(["train", "lr=-1e-3"]) != 0
    assert "lr must be zero or more, got -0.001" in capsys.readouterr().err
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert main(["collect", f"out={tmp_path / 'none'}", "env.id=worldmodel/Nope-v0"]) == 1
    assert "unknown environment id" in capsys.readouterr().err
    assert main(["plan", "env=two_rooms", "env.kwargs.max_stpe=0.03", "episodes=1",
                 f"out={tmp_path / 'plan'}"]) == 1
    err = capsys.readouterr().err
    assert "takes no 'max_stpe'" in err and "max_step" in err
    assert not (tmp_path / "none").exists()


def test_every_stage_yaml_spells_out_its_schema():
    """A command's top-level key that its YAML leaves out is refused on the command line
    as unknown, so each field of a stage's schema must be there (or be a config group)."""
    import dataclasses

    from omegaconf import OmegaConf

    from worldmodel.cli import STAGES, _load, _stage_groups, config_dir

    for name, stage in STAGES.items():
        spelled = {*OmegaConf.load(config_dir() / f"{name}.yaml").keys(), *_stage_groups(name)}
        missing = [f.name for f in dataclasses.fields(_load(stage.schema))
                   if f.name not in spelled]
        assert not missing, f"configs/{name}.yaml lacks {missing}"


def test_a_schema_key_its_group_yaml_leaves_out_can_be_set():
    """``actor.critic_steps`` is a field of every actor but no actor's YAML spells it out:
    it is set, not refused; a key of no schema still is."""
    from worldmodel.cli import compose
    from worldmodel.evaluation import PlanConfig

    cfg = compose("plan", ["actor=cem", "actor.critic_steps=7", "actor.critic_target=return"],
                  PlanConfig)
    assert cfg.actor.critic_steps == 7 and cfg.actor.critic_target == "return"
    assert main(["plan", "actor.critic_stepz=7"]) == 2


def test_env_kwargs_reach_the_environment(tmp_path, capsys):
    """The environment's own settings are not the project's keys: a new one is set, not
    refused as unknown."""
    out = tmp_path / "d"
    assert main(["collect", "env=two_rooms", "env.kwargs.max_step=0.02", "episodes=2",
                 "env.episode_length=5", f"out={out}", "progress=false", "preview=0"]) == 0
    data = EpisodeDataset.open(out)
    assert data.meta.env_kwargs == {"max_step": 0.02}
    steps = (data.episodes["state"][:, 1:] - data.episodes["state"][:, :-1]).norm(dim=-1)
    assert 0 < steps.max() <= 0.02 + 1e-6


def test_freed_memory_is_kept_where_glibc_allows():
    """The jepa command raises glibc's mmap threshold: a child process that applies it and
    then makes and drops a 4 MB buffer keeps that memory in its heap (no fresh mmap)."""
    import platform

    from worldmodel.malloc import reuse_freed_memory

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert reuse_freed_memory() is glibc
    if not glibc:
        return
    probe = ("import ctypes, ctypes.util, sys\n"
             "from worldmodel.malloc import reuse_freed_memory\n"
             "if sys.argv[1] == '1': reuse_freed_memory()\n"
             "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
             "class Info(ctypes.Structure):\n"
             "    _fields_ = [(n, ctypes.c_size_t) for n in 'arena ordblks smblks hblks hblkhd "
             "usmblks fsmblks uordblks fordblks keepcost'.split()]\n"
             "libc.mallinfo2.restype = Info\n"
             "libc.malloc.restype = ctypes.c_void_p\n"
             "before = libc.mallinfo2().hblks\n"  # blocks served by mmap
             "p = libc.malloc(4 << 20)\n"
             "print(libc.mallinfo2().hblks - before)\n"
             "libc.free(ctypes.c_void_p(p))\n")
    counts = [int(subprocess.run([sys.executable, "-c", probe, flag], capture_output=True,
                                 text=True, check=True).stdout) for flag in ("0", "1")]
    assert counts == [1, 0], counts
