"""Small trained checkpoints shipped inside the package, so planning works with no training.

Each is a `jepa train` checkpoint (encoder + predictor, no optimiser state) made by the
commands in ``RECIPES`` (run by ``make checkpoints``); ``recipes.md`` beside this file
records the data, seeds and measured quality of each.
"""

from __future__ import annotations

from pathlib import Path

from worldmodel.jepa.checkpoint import CheckpointError, load, save_atomic

HERE = Path(__file__).parent

SHIPPED = {"worldmodel/PointRoom-v0": "point_room.pt", "worldmodel/TwoRooms-v0": "two_rooms.pt"}

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
    if "train_config" not in ckpt:
        raise CheckpointError(f"{src} is not a `jepa train` checkpoint")
    save_atomic({k: v for k, v in ckpt.items() if k != "optimizer"}, Path(dst))
    return Path(dst)


__all__ = ["RECIPES", "SHIPPED", "export", "shipped"]
