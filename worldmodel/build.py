"""Build the six modules from typed configs (what the Hydra groups of ``jepa plan`` fill)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import gymnasium as gym
import torch

from worldmodel.actor import PLANNERS, PlanningActor, PolicyActor, PolicyNet
from worldmodel.config import check_ranges
from worldmodel.configurator import GoalConfigurator
from worldmodel.cost import ActionMagnitude, GoalDistance, WeightedSum
from worldmodel.jepa.checkpoint import CheckpointError, load
from worldmodel.memory import ShortTermMemory
from worldmodel.perception import StatePerception
from worldmodel.precision import resolve_bf16, resolve_int8
from worldmodel.world_model import MujocoOracle, TwoRoomsOracle


@dataclass
class ActorConfig:
    """Mode-2 planner (cem, icem, mppi, grad, shooting) or Mode-1 ``policy``."""

    name: str = "cem"
    execute: int = 1  # actions executed per plan (receding horizon)
    critic_weight: float = 0.0  # weight of the critic as terminal cost (0: no critic)
    critic_target: str = "later"  # later: IC critic_delta steps on | return: cost-to-go
    critic_discount: float = 0.9  # critic_target=return: discount of the cost to come
    critic_delta: int = 10  # critic_target=later: the intrinsic cost this many steps ahead
    critic_steps: int = 300  # critic training steps after each batch of episodes
    prior: str | None = None  # a Mode-1 policy.pt whose imagined actions warm-start plans
    params: dict[str, Any] = field(default_factory=dict)  # the planner's own settings

    def __post_init__(self) -> None:
        check_ranges(self, positive=("execute", "critic_delta"),
                     non_negative=("critic_weight", "critic_steps"),
                     unit=("critic_discount",), group="actor")
        if self.critic_target not in ("return", "later"):
            raise ValueError(f"actor.critic_target is return or later, got "
                             f"{self.critic_target!r}")


@dataclass
class ModuleConfig:
    """A module chosen by name, with an optional checkpoint."""

    name: str = "oracle"
    checkpoint: str | None = None  # learned modules: None means the shipped checkpoint
    # learned world model: plan on a bf16 copy of the predictor (None: where native)
    bf16: bool | None = False
    z_std: float = 0.0  # learned world model with a latent z: 0 plans the mean future
    fused: bool = True  # learned MLP world model on CPU: plan through oneDNN-fused layers
    # learned MLP world model on CPU: int8 hidden layers (None: where bf16 is not native)
    int8: bool | None = False


@dataclass
class CostConfig:
    """Intrinsic cost: goal distance (+ optional action-magnitude penalty)."""

    norm: str = "l2"
    last_only: bool = False
    discount: float = 1.0
    action_weight: float = 0.0

    def __post_init__(self) -> None:
        check_ranges(self, non_negative=("action_weight",), group="cost")
        if not 0 < self.discount <= 1:
            raise ValueError(f"cost.discount weighs step t by discount^t: within (0, 1], got "
                             f"{self.discount}")


@dataclass
class ConfiguratorConfig:
    horizon: int = 20
    mode: int = 2

    def __post_init__(self) -> None:
        check_ranges(self, positive=("horizon",), group="configurator")


@dataclass
class MemoryConfig:
    capacity: int = 100_000


_NETS: dict[str, tuple] = {}  # checkpoint path -> (net, ckpt): perception and world model share


def trained_path(path: str | None, env) -> str:
    """The `jepa train` checkpoint a learned module reads: ``path``, or when None the one
    shipped for ``env``."""
    if path:
        return path
    from worldmodel.checkpoints import shipped

    return str(shipped(env.spec.id if env.spec else ""))


def _trained(path: str | None, env):
    """The (cached) `jepa train` network at ``path`` and its checkpoint dict, checked
    against ``env``."""
    from worldmodel.world_model.net import net_from_checkpoint

    path = trained_path(path, env)
    if path not in _NETS:
        _NETS[path] = net_from_checkpoint(path)
    net, ckpt = _NETS[path]
    base = env.unwrapped
    if ckpt["env_id"] != (env.spec.id if env.spec else None):
        raise ValueError(f"{path} was trained on {ckpt['env_id']}, not {env.spec.id}: plan on "
                         f"its env (`jepa envs` gives the env= name of {ckpt['env_id']})")
    if ckpt["image_size"] != base.image_size:
        raise ValueError(f"{path} was trained on {ckpt['image_size']}px frames, the env renders "
                         f"{base.image_size}px")
    if ckpt["action_dim"] != env.action_space.shape[0]:
        raise ValueError(f"{path} predicts {ckpt['action_dim']}-d actions, the env takes "
                         f"{env.action_space.shape[0]}-d")
    _check_env_kwargs(path, ckpt.get("env_kwargs"), env)
    return net, ckpt


def _check_env_kwargs(path: str, trained: dict | None, env) -> None:
    """Frames drawn otherwise than the training frames (anti-aliasing, markers) would reach
    the encoder unnoticed: the env's own kwargs must be those of the training data, except
    those the env declares do not change its frames (``frame_neutral_kwargs``: a slower
    agent is a world the model may be corrected to, not frames it cannot read)."""
    if trained is None or env.spec is None:  # checkpoints from before env_kwargs were saved
        return
    registered = gym.spec(env.spec.id).kwargs
    neutral = {"image_size", *getattr(env.unwrapped, "frame_neutral_kwargs", ())}
    made = {k: v for k, v in env.spec.kwargs.items() if k not in registered and k not in neutral}
    trained = {k: v for k, v in trained.items() if k not in neutral}
    if made != trained:
        raise ValueError(
            f"{path} was trained on frames of {env.spec.id} made with kwargs {dict(trained)}, "
            f"this env was made with {made}: plan with the same env.kwargs (e.g. "
            "env.kwargs.show_markers=false)"
        )


def check_pairing(perception: ModuleConfig, world_model: ModuleConfig) -> None:
    """The world model predicts in the space the perception encodes into: the true state for
    the oracle, the latents of its own checkpoint's encoder for a learned model."""
    if world_model.name == "oracle" and perception.name != "state":
        raise ValueError(f"world_model=oracle steps the true simulator state, but "
                         f"perception={perception.name} gives latents: use perception=state")
    if world_model.name == "learned":
        if perception.name != "learned":
            raise ValueError(
                f"world_model=learned predicts the latents of its checkpoint's encoder, but "
                f"perception={perception.name} gives the true state: use perception=learned "
                "(it reads the encoder from world_model.checkpoint), or world_model=oracle")
        if perception.checkpoint != world_model.checkpoint:
            raise ValueError(
                f"perception.checkpoint={perception.checkpoint} and world_model.checkpoint="
                f"{world_model.checkpoint} differ: a world model only predicts the latents of "
                "the encoder it was trained with; set world_model.checkpoint alone")


def build_perception(cfg: ModuleConfig, env) -> Any:
    """The perception module for ``env`` (a made Gymnasium env)."""
    if cfg.name == "state":
        return StatePerception(env.unwrapped.state_dim)
    if cfg.name == "learned":
        from worldmodel.perception.learned import EncoderPerception

        net, _ = _trained(cfg.checkpoint, env)
        return EncoderPerception(net.encoder, env.unwrapped.image_size)
    raise ValueError(f"unknown perception {cfg.name!r}; available: state, learned")


def build_world_model(cfg: ModuleConfig, env) -> Any:
    """The world model for ``env``."""
    if cfg.name == "oracle":
        base = env.unwrapped
        if hasattr(base, "layout") and not hasattr(base, "model"):
            if base.random_door:
                raise ValueError("the Two Rooms oracle needs a fixed door (random_door=false)")
            return TwoRoomsOracle.from_env(env)
        return MujocoOracle.from_env(env)
    if cfg.name == "learned":
        from worldmodel.world_model.correction import load_calibration
        from worldmodel.world_model.learned import LearnedWorldModel, rolls_out_fused

        net, ckpt = _trained(cfg.checkpoint, env)
        device = next(net.predictor.parameters()).device
        bf16 = resolve_bf16(cfg.bf16, device, "world_model.bf16")
        # auto applies int8 only where it can run: the fused fp32 rollout
        int8 = resolve_int8(cfg.int8, bf16, device) and (
            cfg.int8 is not None or rolls_out_fused(net.predictor, cfg.fused))
        model = LearnedWorldModel(net.predictor, bf16=bf16, int8=int8, z_std=cfg.z_std,
                                  frameskip=net.frameskip, fused=cfg.fused)
        model.calibration = load_calibration(  # a corrected model's, or None
            ckpt, model.action_dim, next(net.predictor.parameters()).device)
        return model
    raise ValueError(f"unknown world model {cfg.name!r}; available: oracle, learned")


def build_cost(cfg: CostConfig, perception, env) -> WeightedSum:
    """Intrinsic cost; on true states the goal is compared through the env's readout."""
    readout = env.unwrapped.achieved_goal if perception.observation_key == "state" else None
    terms = [GoalDistance(cfg.norm, cfg.last_only, cfg.discount, readout=readout)]
    weights = {"goal": 1.0}
    if cfg.action_weight:
        terms.append(ActionMagnitude())
        weights["action"] = cfg.action_weight
    return WeightedSum(terms, weights)


def build_actor(cfg: ActorConfig, world_model, cost, action_dim: int, state_dim: int,
                critic: torch.nn.Module | None = None) -> Any:
    """A PlanningActor around the named planner, or a PolicyActor from a checkpoint."""
    if cfg.name == "policy":
        path = cfg.params.get("checkpoint")
        if not path:
            raise ValueError("actor=policy needs actor.params.checkpoint=<policy.pt>, made by "
                             "`python bench/mode1_vs_mode2.py` or worldmodel.actor.distill")
        return PolicyActor(_policy(path, state_dim, action_dim))
    if cfg.name not in PLANNERS:
        raise ValueError(f"unknown actor {cfg.name!r}; available: {sorted(PLANNERS)}, policy")
    planner_cls = PLANNERS[cfg.name]
    known = {f.name for f in fields(planner_cls)}
    unknown = set(cfg.params) - known
    if unknown:
        raise ValueError(f"actor.params: unknown key(s) {sorted(unknown)} for {cfg.name}; "
                         f"known: {sorted(known)}")
    if cfg.name == "grad" and not getattr(world_model, "differentiable", True):
        raise ValueError("actor=grad needs a differentiable world model; this one is not "
                         "(MuJoCo oracle): use cem, icem, mppi or shooting")
    prior = _policy(cfg.prior, state_dim, action_dim) if cfg.prior else None
    return PlanningActor(world_model, cost, planner_cls(**cfg.params), action_dim,
                         execute=cfg.execute, critic=critic, critic_weight=cfg.critic_weight,
                         prior=prior)


def _policy(path: str, state_dim: int, action_dim: int) -> PolicyNet:
    """A Mode-1 policy from ``path`` (a ``policy.pt`` state dict), for these shapes."""
    policy = PolicyNet(state_dim, action_dim)
    try:
        policy.load_state_dict(load(path))
    except RuntimeError as err:
        raise CheckpointError(f"{path} is not a policy for {state_dim}-d states and "
                              f"{action_dim}-d actions: {err}") from err
    return policy.eval()


def build_memory(cfg: MemoryConfig, state_dim: int, action_dim: int) -> ShortTermMemory:
    return ShortTermMemory(cfg.capacity, state_dim, action_dim)


def build_configurator(cfg: ConfiguratorConfig) -> GoalConfigurator:
    return GoalConfigurator(horizon=cfg.horizon, mode=cfg.mode)
