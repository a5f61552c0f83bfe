"""Roll a behaviour policy in parallel environments and write the episodes to disk."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict
from tqdm import tqdm

from worldmodel.config import EnvConfig, check_env
from worldmodel.rendering import select_gl_backend

from .dataset import DatasetError, DatasetMeta, EpisodeDataset
from .policies import make_policy


@dataclass
class CollectConfig:
    """``jepa collect``: which environment, how many episodes, which policy, where."""

    env: EnvConfig = field(default_factory=EnvConfig)
    episodes: int = 64
    policy: str = "noisy_expert"  # random | smooth_random | noisy_expert | expert | planner
    planner: str | None = None  # policy=planner: results.json of the `jepa plan` run to act
    noise: float = 0.3
    noise_correlation: float = 0.0  # AR(1) coefficient of the expert's noise over steps
    seed: int = 0
    image_size: int = 64
    out: str = "data/two_rooms"
    append: bool = False
    chunk_episodes: int = 64
    preview: int = 4  # episodes in preview.mp4 (0: none)
    progress: bool = True


def make_vector_env(env: EnvConfig, image_size: int, steps: int) -> gym.vector.VectorEnv:
    """The configured environment, ``env.num_envs`` copies, episodes of ``steps`` steps that
    do not stop at success (a dataset wants fixed-length episodes)."""
    select_gl_backend()
    import worldmodel.envs  # noqa: F401  (registers the namespace)

    check_env(env)
    if env.vectorization not in ("sync", "async"):
        raise ValueError(f"env.vectorization must be sync or async, got {env.vectorization!r}")
    kwargs = {"image_size": image_size, "terminate_on_success": False, **env.kwargs}
    # Workers are spawned, not forked: a forked child inherits the parent's OpenGL context
    # and hangs on its first frame.
    vector_kwargs = {"context": "spawn"} if env.vectorization == "async" else {}
    return gym.make_vec(env.id, num_envs=env.num_envs, vectorization_mode=env.vectorization,
                        vector_kwargs=vector_kwargs, max_episode_steps=steps, **kwargs)


def _rollout(vec: gym.vector.VectorEnv, policy, steps: int, seed: int,
             rng: np.random.Generator) -> TensorDict:
    """One batch of episodes, one per sub-environment -> TensorDict [N]."""
    obs, info = vec.reset(seed=seed)
    if hasattr(policy, "reset"):  # noise with memory starts anew with each episode
        policy.reset()
    pixels, states, success = [obs["pixels"]], [info["state"]], [info["is_success"]]
    actions, rewards, dones = [], [], []
    goal_pixels, goal_state = obs["goal"], info["goal_state"]
    for _ in range(steps):
        action = policy({**info, **obs}, rng)  # the planner policy reads the pixels
        obs, reward, terminated, truncated, info = vec.step(action)
        pixels.append(obs["pixels"])
        states.append(info["state"])
        actions.append(action)
        rewards.append(reward)
        dones.append(terminated | truncated)
        success.append(info["is_success"])
    n = vec.num_envs

    def stack(xs, dtype):
        return torch.from_numpy(np.stack(xs, axis=1).astype(dtype))

    return TensorDict(
        {
            "pixels": stack(pixels, np.uint8),
            "state": stack(states, np.float32),
            "action": stack(actions, np.float32),
            "reward": stack(rewards, np.float32),
            "done": stack(dones, bool),
            "success": stack(success, bool),
            "goal_pixels": torch.from_numpy(np.asarray(goal_pixels, np.uint8)),
            "goal_state": torch.from_numpy(np.asarray(goal_state, np.float32)),
        },
        batch_size=[n],
    )


def open_or_create(cfg: CollectConfig, vec: gym.vector.VectorEnv) -> EpisodeDataset:
    """The dataset to write to: a new one, or an existing one when appending to it."""
    out = Path(cfg.out)
    T = cfg.env.episode_length
    if (out / "meta.json").exists():
        if not cfg.append:
            raise DatasetError(
                f"{out} already holds a dataset; pass append=true to add episodes to it or "
                "out=<new folder>"
            )
        data = EpisodeDataset.open(out, env_id=cfg.env.id, image_size=cfg.image_size)
        if data.meta.episode_length != T:
            raise DatasetError(
                f"{out} holds episodes of {data.meta.episode_length} steps, asked for {T}; "
                f"pass env.episode_length={data.meta.episode_length} to append"
            )
        return data
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out} exists and is not a dataset; choose an empty or new folder")
    space = vec.single_observation_space["pixels"]
    state_dim = vec.call("get_wrapper_attr", "state_dim")[0]
    goal_dim = vec.call("get_wrapper_attr", "goal_dim")[0]
    meta = DatasetMeta(
        env_id=cfg.env.id, image_size=space.shape[-1], episode_length=T,
        action_dim=vec.single_action_space.shape[0], state_dim=int(state_dim),
        goal_dim=int(goal_dim), policy=cfg.policy, seed=cfg.seed, env_kwargs=dict(cfg.env.kwargs),
    )
    return EpisodeDataset.create(out, meta)


def _policy(cfg: CollectConfig, vec: gym.vector.VectorEnv):
    if cfg.policy != "planner":
        if cfg.planner:
            raise ValueError(f"planner= is read only with policy=planner, not {cfg.policy}")
        return make_policy(cfg.policy, cfg.env.id, vec.single_action_space.shape[0],
                           cfg.noise, cfg.noise_correlation)
    if not cfg.planner:
        raise ValueError("policy=planner needs planner=<results.json of a `jepa plan` run>")
    from .planner_policy import PlannerPolicy

    kwargs = {"image_size": cfg.image_size, **cfg.env.kwargs}
    return PlannerPolicy(cfg.planner, cfg.env.id, kwargs, cfg.noise, cfg.noise_correlation)


def collect(cfg: CollectConfig) -> tuple[EpisodeDataset, dict]:
    """Collect ``cfg.episodes`` episodes; returns the dataset and a summary (frames/s etc.)."""
    if cfg.episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {cfg.episodes}")
    T = cfg.env.episode_length
    vec = make_vector_env(cfg.env, cfg.image_size, T)
    try:
        # The policy first: a bad policy setting must not leave an empty dataset behind.
        policy = _policy(cfg, vec)
        data = open_or_create(cfg, vec)
        behaviour = {"policy": cfg.policy, "noise": cfg.noise,
                     "noise_correlation": cfg.noise_correlation}
        if cfg.planner:
            behaviour["planner"] = cfg.planner
        n = vec.num_envs
        # Seeds continue after the episodes already there, so appending adds new episodes.
        first = cfg.seed + len(data)
        rng = np.random.default_rng(first)
        pending: list[TensorDict] = []
        done, start = 0, time.perf_counter()
        bar = tqdm(total=cfg.episodes, desc=f"collect {cfg.env.name}", unit="ep",
                   disable=not cfg.progress)
        chunk_seed = first
        while done < cfg.episodes:
            batch = _rollout(vec, policy, T, seed=first + done, rng=rng)
            take = min(n, cfg.episodes - done)
            pending.append(batch[:take])
            done += take
            bar.update(take)
            if sum(p.shape[0] for p in pending) >= cfg.chunk_episodes or done == cfg.episodes:
                data.append(torch.cat(pending), seed=chunk_seed, **behaviour)
                pending, chunk_seed = [], first + done
        bar.close()
        seconds = time.perf_counter() - start
    finally:
        vec.close()
    frames = cfg.episodes * (T + 1)
    summary = {
        "dataset": str(data.path), "env": cfg.env.id, "episodes_added": cfg.episodes,
        "episodes_total": len(data), "frames": frames, "seconds": round(seconds, 2),
        "frames_per_second": round(frames / seconds, 1),
    }
    return data, summary


def run_collect(cfg: CollectConfig) -> dict:
    """``jepa collect``: collect, then write the preview video; returns the summary."""
    from .preview import write_preview

    data, summary = collect(cfg)
    if cfg.preview > 0:
        summary["preview"] = str(write_preview(data, data.path / "preview.mp4", cfg.preview))
    return summary
