"""The ``jepa`` command: one sub-command per pipeline stage, each configured by Hydra.

``jepa <stage> [key=value ...] [group=option ...]`` composes ``configs/<stage>.yaml`` with
Hydra's compose API, validates it against the stage's dataclass (unknown keys and wrong
types are errors that name the key), and runs the stage.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import signal
import sys
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from worldmodel.malloc import reuse_freed_memory


class UsageError(Exception):
    """Bad command-line input; the message says what to do instead."""


@dataclass(frozen=True)
class Stage:
    """A sub-command: its config schema and what it runs, as "module:name" (imported only
    when used, so `jepa --help` stays fast), and how to explain it."""

    schema: str
    run: str  # returns a summary dict; its "table" entry, if any, is printed first
    summary: str
    example: str


def _load(target: str) -> Any:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def config_dir() -> Path:
    """The folder of the shipped Hydra configs (inside the installed package)."""
    return Path(str(resources.files("worldmodel.configs")))


def groups() -> dict[str, list[str]]:
    """Config groups and their options, e.g. {"env": ["point_room", "reacher", ...]}."""
    root = config_dir()
    return {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith("_") and any(d.glob("*.yaml"))
    }


# Mappings whose keys are someone else's (the environment constructor's arguments): a new
# key there is a setting the project cannot list in advance, not a typo, so it is added
# (Hydra's "++") instead of refused as unknown.
OPEN_MAPPINGS = ("env.kwargs.",)


def in_schema(schema: type, path: str) -> bool:
    """Whether the dotted ``path`` names a field of the dataclass ``schema`` (nested)."""
    kind: Any = schema
    for part in path.split("."):
        if not dataclasses.is_dataclass(kind):
            return False
        hints = typing.get_type_hints(kind)
        if part not in hints:
            return False
        kind = hints[part]
    return True


def _addable(override: str, schema: type) -> str:
    """``override`` as Hydra should take it: a group's YAML may leave out keys its schema
    has (``actor.critic_steps``), and an env's kwargs are open, so both are set with "++"
    (add or override) instead of refused; everything else passes through."""
    key = override.split("=", 1)[0]
    if "=" not in override or key.startswith("+") or "." not in key:
        return override
    if key.startswith(OPEN_MAPPINGS) or in_schema(schema, key):
        return f"++{override}"
    return override


def compose(stage: str, overrides: list[str], schema: type) -> Any:
    """Compose ``configs/<stage>.yaml`` with ``overrides`` into an instance of ``schema``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    overrides = [_addable(o, schema) for o in overrides]
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base=None):
            cfg = hydra_compose(config_name=stage, overrides=overrides)
    except HydraException as err:
        raise UsageError(_explain_hydra(stage, str(err))) from err
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), cfg)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or getattr(err, "key", None)
        raise UsageError(f"config key {key!r}: {str(err).splitlines()[0]}") from err


def _explain_hydra(stage: str, message: str) -> str:
    """Hydra's message, shortened to what the user can act on."""
    lines = [ln for ln in message.splitlines() if ln.strip()]
    if "Config search path:" in lines:
        lines = lines[: lines.index("Config search path:")]
    first = lines[0] if lines else message
    if "Could not override" in first or "not in struct" in message:
        key = first.split("'")[1] if "'" in first else first
        return f"unknown config key {key!r}; `jepa {stage} --help` lists the keys"
    return "\n".join(lines)


STAGES: dict[str, Stage] = {
    "collect": Stage(
        "worldmodel.data.collect:CollectConfig", "worldmodel.data.collect:run_collect",
        "roll a policy in an environment and write an episode dataset",
        "jepa collect env=point_room episodes=20 policy=random out=data/pr_random",
    ),
    "pretrain": Stage(
        "worldmodel.jepa.pretrain:PretrainConfig", "worldmodel.jepa.pretrain:pretrain",
        "self-supervised I-JEPA / V-JEPA / LeJEPA pretraining (or the pixel baseline) of the "
        "encoder",
        "jepa pretrain data=data/two_rooms method=ijepa model=tiny steps=2000",
    ),
    "train": Stage(
        "worldmodel.world_model.train_config:TrainConfig", "worldmodel.world_model.train:train",
        "train the action-conditioned world model (end-to-end, or on a frozen JEPA encoder)",
        "jepa train data=data/two_rooms recipe=end_to_end predictor=mlp steps=3000",
    ),
    "probe": Stage(
        "worldmodel.probe:ProbeConfig", "worldmodel.probe:probe",
        "probes of the true state from a pretrained encoder's features or a world model's "
        "latents, RankMe, PCA; for a world model also its error against horizon",
        "jepa probe checkpoint=runs/pretrain/ijepa/last.pt data=data/two_rooms",
    ),
    "plan": Stage(
        "worldmodel.evaluation:PlanConfig", "worldmodel.evaluation:run_plan",
        "plan with the six-module agent and report success, steps and time per plan",
        "jepa plan env=point_room actor=mppi episodes=20 configurator.horizon=15",
    ),
}


def _print_envs() -> None:
    import gymnasium as gym

    import worldmodel.envs  # noqa: F401

    print("config name      Gymnasium id")
    for name in groups().get("env", []):
        text = (config_dir() / "env" / f"{name}.yaml").read_text()
        env_id = next(ln.split(":", 1)[1].strip() for ln in text.splitlines()
                      if ln.startswith("id:"))
        print(f"{name:16} {env_id}")
    extra = sorted(k for k in gym.registry if k.startswith("worldmodel/"))
    print("\nregistered in the worldmodel/ namespace:", ", ".join(extra))
    print("any Gymnasium MuJoCo task with a goal also works: "
          "env.id=worldmodel/Reacher-v0 or GoalPixelEnv('<id>')")


def _usage() -> str:
    width = max(len(s) for s in [*STAGES, "envs"])
    rows = [f"  {name:{width}}  {s.summary}" for name, s in STAGES.items()]
    rows.append(f"  {'envs':{width}}  list the environments")
    return (
        "usage: jepa <command> [-m] [key=value ...] [group=option ...]\n\n"
        "Energy-based world models with JEPA perception and latent-space planning.\n\n"
        "commands:\n" + "\n".join(rows) + "\n\n`jepa <command> --help` shows its config."
    )


def _stage_groups(name: str) -> list[str]:
    """The config groups a stage's YAML composes (its defaults list)."""
    raw = OmegaConf.load(config_dir() / f"{name}.yaml")
    return [next(iter(d)) for d in raw.get("defaults", []) if not isinstance(d, str)]


def _stage_help(name: str, stage: Stage) -> str:
    cfg = compose(name, [], _load(stage.schema))
    used = _stage_groups(name)
    options = "\n".join(f"  {g}: {', '.join(o)}" for g, o in groups().items() if g in used)
    options = options or "  (none: set keys directly)"
    body = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    return (
        f"usage: jepa {name} [-m] [key=value ...] [group=option ...]\n\n{stage.summary}.\n"
        "-m (--multirun): one run per combination of comma-separated values (a,b).\n\n"
        f"config groups (choose with group=option):\n{options}\n\n"
        f"defaults:\n{body}\nexample:\n  {stage.example}"
    )


def _run_stage(name: str, stage: Stage, overrides: list[str],
               subfolder: str = "") -> tuple[int, dict | None]:
    """Compose, run and report one ``jepa <name>`` job -> (exit code, its summary)."""
    try:
        cfg = compose(name, overrides, _load(stage.schema))
        if subfolder:  # a sweep's job: its own folder under the out it resolves to
            cfg.out = str(Path(cfg.out) / subfolder)
        reuse_freed_memory()  # every stage makes and drops MB-sized tensors in its loop
        result = _load(stage.run)(cfg)
        if "table" in result:
            print(result.pop("table"))
        print(json.dumps(result, indent=2))
        if "stopped_by" in result:  # a signal: what was done is on disk, but not all
            told = result.get("stopped") or (
                f"stopped by {result['stopped_by']} at step {result['steps']} with a "
                "checkpoint; add resume=true to the same command to finish")
            print(f"jepa {name}: {told}", file=sys.stderr)
            return 128 + signal.Signals[result["stopped_by"]], result
        return 0, result
    except UsageError as err:
        print(f"jepa {name}: error: {err}", file=sys.stderr)
        return 2, None
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"jepa {name}: error: {err}", file=sys.stderr)
        return 1, None


def _sweep(name: str, stage: Stage, overrides: list[str]) -> int:
    """``-m``: every combination of the sweeps, one after the other; a summary row per job
    at the end. A job that fails does not stop the others; a stop signal stops the sweep."""
    from hydra.errors import HydraException

    from worldmodel.sweep import expand

    try:
        jobs = expand(overrides)
    except HydraException as err:
        print(f"jepa {name}: error: {err}", file=sys.stderr)
        return 2
    rows, code = [], 0
    for k, (tag, job) in enumerate(jobs, 1):
        print(f"jepa {name} [{k}/{len(jobs)}] {tag or '(no sweep)'}", file=sys.stderr)
        rc, result = _run_stage(name, stage, job, tag)
        scalars = {key: v for key, v in (result or {}).items()
                   if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        rows.append({"job": tag, "exit_code": rc, **scalars})
        code = code or rc
        if rc >= 128:
            break
    print(json.dumps({"sweep": rows}, indent=2))
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jepa`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name == "envs":
        _print_envs()
        return 0
    if name not in STAGES:
        print(f"jepa {name}: error: unknown command {name!r}; commands: "
              f"{', '.join([*STAGES, 'envs'])}", file=sys.stderr)
        return 2
    stage = STAGES[name]
    if any(a in ("-h", "--help") for a in rest):
        try:
            print(_stage_help(name, stage))
        except UsageError as err:
            print(f"jepa {name}: error: {err}", file=sys.stderr)
            return 2
        return 0
    multirun = [a for a in rest if a in ("-m", "--multirun")]
    rest = [a for a in rest if a not in ("-m", "--multirun")]
    if multirun:
        return _sweep(name, stage, rest)
    return _run_stage(name, stage, rest)[0]


if __name__ == "__main__":
    sys.exit(main())
