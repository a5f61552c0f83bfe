"""Small trained checkpoints shipped inside the package, so planning works with no training.

Each is a `jepa train` checkpoint (encoder + predictor, no optimiser state) made by the
commands in ``RECIPES`` (run by ``make checkpoints``); ``recipes.md`` beside this file
records the data, seeds and measured quality of each.
"""

from __future__ import annotations

from pathlib import Path

from worldmodel.jepa.checkpoint import CheckpointError, expect_kind, load, save_atomic

HERE = Path(__file__).parent

SHIPPED = {"worldmodel/PointRoom-v0": "point_room.pt", "worldmodel/TwoRooms-v0": "two_rooms.pt",
           "worldmodel/Reacher-v0": "reacher.pt", "worldmodel/PointMaze-v0": "point_maze.pt",
           "worldmodel/PointMazeMedium-v0": "point_maze_medium.pt"}

# The exact commands behind each file, in order; `make checkpoints` runs them.
RECIPES = {
    "point_room.pt": [
        "jepa collect env=point_room episodes=400 seed=0 out=data/point_room preview=0",
        "jepa train data=data/point_room frames=2 steps=3000 seed=0 out=runs/ship/point_room",
    ],
    "two_rooms.pt": [
        "jepa collect env=two_rooms episodes=400 seed=0 out=data/two_rooms preview=0",
        "jepa train data=data/two_rooms steps=1500 seed=0 out=runs/ship/two_rooms",
    ],
    # Expert + sustained pushes, a first model, then one round of the planner's own
    # episodes (the model-based data loop) and a short fine-tune on everything.
    "reacher.pt": [
        "jepa collect env=reacher episodes=800 seed=0 out=data/reacher preview=0",
        "jepa collect env=reacher episodes=800 noise=0.7 noise_correlation=0.9 append=true "
        "out=data/reacher preview=0",
        'jepa train data=data/reacher frames=2 "channels=[16,32,32]" steps=1800 seed=0 '
        "out=runs/ship/reacher_first",
        "jepa plan env=reacher world_model.checkpoint=runs/ship/reacher_first/last.pt "
        "actor=icem cost=goal_l1 cost.discount=1.0 episodes=20 video_episodes=0 "
        "out=runs/ship/reacher_first_plan",
        "jepa collect env=reacher policy=planner "
        "planner=runs/ship/reacher_first_plan/results.json noise=0.3 episodes=160 "
        "env.num_envs=16 append=true out=data/reacher preview=0",
        'jepa train data=data/reacher frames=2 "channels=[16,32,32]" '
        "init=runs/ship/reacher_first/last.pt lr=3e-4 steps=700 seed=0 out=runs/ship/reacher",
    ],
    # Reacher's loop on the U-maze: the expert, sustained pushes (which show the walls
    # stopping the ball, something the expert never does), a first model, its planner's
    # episodes, a short fine-tune.
    "point_maze.pt": [
        "jepa collect env=point_maze episodes=400 seed=0 out=data/point_maze preview=0",
        "jepa collect env=point_maze episodes=400 noise=0.7 noise_correlation=0.9 append=true "
        "seed=1 out=data/point_maze preview=0",
        "jepa train data=data/point_maze frames=2 steps=3000 seed=0 "
        "out=runs/ship/point_maze_first",
        "jepa plan env=point_maze world_model.checkpoint=runs/ship/point_maze_first/last.pt "
        "episodes=50 video_episodes=0 out=runs/ship/point_maze_first_plan",
        "jepa collect env=point_maze policy=planner "
        "planner=runs/ship/point_maze_first_plan/results.json noise=0.3 episodes=160 "
        "env.num_envs=16 append=true seed=2 out=data/point_maze preview=0",
        "jepa train data=data/point_maze frames=2 init=runs/ship/point_maze_first/last.pt "
        "lr=3e-4 steps=700 seed=0 out=runs/ship/point_maze",
    ],
    # The same with two rounds of the data loop: after one the model reached 62%.
    "point_maze_medium.pt": [
        "jepa collect env=point_maze_medium episodes=400 seed=0 out=data/point_maze_medium "
        "preview=0",
        "jepa collect env=point_maze_medium episodes=400 noise=0.7 noise_correlation=0.9 "
        "append=true seed=1 out=data/point_maze_medium preview=0",
        "jepa train data=data/point_maze_medium frames=2 steps=3000 seed=0 "
        "out=runs/ship/point_maze_medium_first",
        "jepa plan env=point_maze_medium "
        "world_model.checkpoint=runs/ship/point_maze_medium_first/last.pt episodes=50 "
        "video_episodes=0 out=runs/ship/point_maze_medium_first_plan",
        "jepa collect env=point_maze_medium policy=planner "
        "planner=runs/ship/point_maze_medium_first_plan/results.json noise=0.3 episodes=160 "
        "env.num_envs=16 append=true seed=2 out=data/point_maze_medium preview=0",
        "jepa train data=data/point_maze_medium frames=2 "
        "init=runs/ship/point_maze_medium_first/last.pt lr=3e-4 steps=700 seed=0 "
        "out=runs/ship/point_maze_medium_second",
        "jepa plan env=point_maze_medium "
        "world_model.checkpoint=runs/ship/point_maze_medium_second/last.pt episodes=50 "
        "video_episodes=0 out=runs/ship/point_maze_medium_second_plan",
        "jepa collect env=point_maze_medium policy=planner "
        "planner=runs/ship/point_maze_medium_second_plan/results.json noise=0.3 "
        "episodes=160 env.num_envs=16 append=true seed=3 out=data/point_maze_medium "
        "preview=0",
        "jepa train data=data/point_maze_medium frames=2 "
        "init=runs/ship/point_maze_medium_second/last.pt lr=3e-4 steps=700 seed=0 "
        "out=runs/ship/point_maze_medium",
    ],
}


def shipped(env_id: str) -> Path:
    """The shipped checkpoint for an environment id, or a clear error naming the way out."""
    if env_id not in SHIPPED:
        raise CheckpointError(
            f"no checkpoint ships for {env_id} (shipped: {', '.join(SHIPPED)}); train one "
            "with `jepa collect` + `jepa train` and pass world_model.checkpoint=<last.pt>"
        )
    path = HERE / SHIPPED[env_id]
    if not path.exists():
        raise CheckpointError(f"{path} is missing from this installation; `make checkpoints` "
                              "rebuilds it")
    return path


def export(src: str | Path, dst: str | Path) -> Path:
    """A `jepa train` checkpoint without its optimiser state (what ships), written atomically."""
    ckpt = load(src)
    expect_kind(ckpt, src, "train")
    save_atomic({k: v for k, v in ckpt.items() if k != "optimizer"}, Path(dst))
    return Path(dst)


__all__ = ["RECIPES", "SHIPPED", "export", "shipped"]
