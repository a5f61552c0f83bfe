"""``jepa plan``: the evaluation protocol of the project.

Fixed episode seeds (so every method meets the same starts and goals), a step budget,
success decided by the environment from the true state. Reports success rate with its
spread over seeds, mean steps to success and time per planning call; writes results.json,
a video of episodes (observation beside goal) and plots.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from worldmodel.agent import Agent
from worldmodel.atomic_write import write_json_atomic
from worldmodel.build import (
    ActorConfig,
    ConfiguratorConfig,
    CostConfig,
    MemoryConfig,
    ModuleConfig,
    build_actor,
    build_configurator,
    build_cost,
    build_memory,
    build_perception,
    build_world_model,
    check_pairing,
    trained_path,
)
from worldmodel.config import EnvConfig, check_env, pick_device
from worldmodel.cost import MLPCritic, critic_targets, fit_critic
from worldmodel.rendering import select_gl_backend
from worldmodel.stop_signal import StopSignal
from worldmodel.video import side_by_side, write_video
from worldmodel.world_model.correction import CorrectionConfig, Corrector


@dataclass
class PlanConfig:
    """``jepa plan``: which modules, which environment, how many episodes."""

    env: EnvConfig = field(default_factory=EnvConfig)
    perception: ModuleConfig = field(default_factory=lambda: ModuleConfig("state"))
    world_model: ModuleConfig = field(default_factory=ModuleConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    actor: ActorConfig = field(default_factory=ActorConfig)
    configurator: ConfiguratorConfig = field(default_factory=ConfiguratorConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    correction: CorrectionConfig = field(default_factory=CorrectionConfig)
    episodes: int = 50  # per seed
    seeds: list[int] = field(default_factory=lambda: [0])
    parallel: int = 10
    video_episodes: int = 4
    device: str = "auto"
    out: str = "runs/plan"
    progress: bool = True


def episode_seed(seed: int, episode: int) -> int:
    """The environment seed of an episode: the same for every method."""
    return 100_000 * seed + episode


def build_agent(cfg: PlanConfig, env: gym.Env) -> Agent:
    """The six modules for ``env`` as the config says (with a critic when
    ``actor.critic_weight`` > 0; it is trained from the memory between batches)."""
    check_pairing(cfg.perception, cfg.world_model)
    device = pick_device(cfg.device)
    perception = build_perception(cfg.perception, env)
    world_model = build_world_model(cfg.world_model, env)
    cost = build_cost(cfg.cost, perception, env)
    A = env.action_space.shape[0]
    critic = MLPCritic(perception.latent_dim) if cfg.actor.critic_weight > 0 else None
    actor = build_actor(cfg.actor, world_model, cost, A, perception.latent_dim, critic)
    memory = build_memory(cfg.memory, perception.latent_dim, A)
    return Agent(build_configurator(cfg.configurator), perception, world_model, cost, actor,
                 memory, device=device)


def _observation(obs: list[dict], infos: list[dict]) -> dict[str, np.ndarray]:
    return {"pixels": np.stack([o["pixels"] for o in obs]),
            "state": np.stack([i["state"] for i in infos])}


def _goal_observation(obs: list[dict], infos: list[dict], key: str) -> np.ndarray:
    return np.stack([o["goal"] for o in obs]) if key == "pixels" else \
        np.stack([i["goal_pose"] for i in infos])


def run_plan(cfg: PlanConfig) -> dict:
    """Run the protocol; write results.json, episodes.mp4 and plots into ``cfg.out``."""
    select_gl_backend()
    import worldmodel.envs  # noqa: F401

    if cfg.episodes < 1 or cfg.parallel < 1 or not cfg.seeds:
        raise ValueError("episodes and parallel must be positive and seeds non-empty")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    check_env(cfg.env)
    envs = [gym.make(cfg.env.id, max_episode_steps=None, **cfg.env.kwargs)
            for _ in range(min(cfg.parallel, cfg.episodes))]
    agent = build_agent(cfg, envs[0])
    corrector = (Corrector(agent.world_model, cfg.correction, seed=cfg.seeds[0])
                 if cfg.correction.steps else None)
    corrections: list[dict] = []  # one row per correction between batches
    key = agent.perception.observation_key
    rows, frames, step_seconds = [], [], []
    bar = tqdm(total=cfg.episodes * len(cfg.seeds), desc=f"plan {cfg.env.name} {cfg.actor.name}",
               unit="ep", disable=not cfg.progress)
    start_all = time.perf_counter()
    batches = [(seed, first) for seed in cfg.seeds for first in range(0, cfg.episodes, len(envs))]
    with StopSignal() as signals:
        for seed, first in batches:
            batch = envs[: min(len(envs), cfg.episodes - first)]
            seeds = [episode_seed(seed, first + i) for i in range(len(batch))]
            # The planners' sampling too: the same command plans the same episodes alike
            # (this torch build seeds its generator afresh in every process).
            torch.manual_seed(seeds[0])
            reset = [env.reset(seed=s) for env, s in zip(batch, seeds, strict=True)]
            obs, infos = [r[0] for r in reset], [r[1] for r in reset]
            agent.reset(_goal_observation(obs, infos, key), horizon=cfg.env.horizon)
            record = [i for i in range(len(batch)) if first + i < cfg.video_episodes and
                      seed == cfg.seeds[0]]
            clips = {i: [side_by_side(obs[i]["pixels"], obs[i]["goal"])] for i in record}
            solved = np.full(len(batch), -1)
            # Distance of the achieved goal to the goal (the environments' reward is minus
            # it): how near a failure came, and where each episode ended.
            closest, final = np.full(len(batch), np.inf), np.full(len(batch), np.inf)
            for t in range(cfg.env.budget):
                tic = time.perf_counter()
                action = agent.step(_observation(obs, infos), active=solved < 0)
                step_seconds.append(time.perf_counter() - tic)
                for i, env in enumerate(batch):
                    if solved[i] >= 0:
                        continue
                    obs[i], reward, terminated, _, infos[i] = env.step(action[i])
                    final[i] = -reward
                    closest[i] = min(closest[i], final[i])
                    if infos[i]["is_success"]:
                        solved[i] = t + 1
                    if i in clips:
                        clips[i].append(side_by_side(obs[i]["pixels"], obs[i]["goal"]))
                if (solved >= 0).all():
                    break
            frames.extend(clips[i] for i in record)
            rows += [{"seed": seed, "episode_seed": s, "success": bool(k >= 0),
                      "steps": int(k) if k >= 0 else None, "final_distance": float(d),
                      "closest_distance": float(c)}
                     for s, k, d, c in zip(seeds, solved, final, closest, strict=True)]
            bar.update(len(batch))
            critic = getattr(agent.actor, "critic", None)
            if critic is not None:
                # What the memory saw so far teaches the critic for the next episodes.
                a = cfg.actor
                targets = critic_targets(agent.memory, a.critic_target, a.critic_delta,
                                         a.critic_discount)
                if len(targets[2]):
                    fit_critic(critic, *targets, steps=a.critic_steps)
            if corrector is not None:
                # What the memory perceived so far corrects the model for the next episodes.
                tic = time.perf_counter()
                done = corrector(agent.memory)
                if done is not None:
                    corrections.append({"after_episodes": len(rows), **done,
                                        "seconds": round(time.perf_counter() - tic, 2)})
            # Every finished batch goes to disk: an interrupted run keeps what it planned.
            write_json_atomic(out / "results.json", {
                "summary": summarise(rows, agent, step_seconds,
                                     time.perf_counter() - start_all, cfg, corrections),
                "episodes": rows, "config": asdict(cfg), "complete": False})
            if signals.requested():
                break
    bar.close()
    for env in envs:
        env.close()
    summary = summarise(rows, agent, step_seconds, time.perf_counter() - start_all, cfg,
                        corrections)
    write_json_atomic(out / "results.json", {"summary": summary, "episodes": rows,
                                             "config": asdict(cfg),
                                             "complete": signals.received is None})
    if signals.received is not None:
        summary["stopped_by"] = signals.received.name
        summary["stopped"] = (f"stopped by {signals.received.name} after {len(rows)} of "
                              f"{cfg.episodes * len(cfg.seeds)} episodes; {out / 'results.json'} "
                              "holds them")
    if frames:
        summary["video"] = str(_write_episodes(out / "episodes.mp4", frames))
    if corrections:  # the corrected world model, to plan with again
        source = trained_path(cfg.world_model.checkpoint, envs[0])
        summary["corrected"] = str(corrector.save(source, out / "corrected.pt"))
    summary["plots"] = [str(p) for p in plot(rows, agent, cfg.env.budget, out, corrections)]
    summary["table"] = format_table(summary)
    return summary


def summarise(rows: list[dict], agent: Agent, step_seconds: list[float], seconds: float,
              cfg: PlanConfig, corrections: list[dict] | None = None) -> dict:
    """Success rate (mean and spread over seeds), steps to success, time per plan, and the
    world-model corrections made between batches (held-out error before and after each)."""
    per_seed = [float(np.mean([r["success"] for r in rows if r["seed"] == s]))
                for s in cfg.seeds if any(r["seed"] == s for r in rows)]  # (a stopped run)
    steps = [r["steps"] for r in rows if r["success"]]
    plan = getattr(agent.actor, "plan_seconds", None) or step_seconds
    return {
        "env": cfg.env.id, "actor": cfg.actor.name, "world_model": cfg.world_model.name,
        "perception": cfg.perception.name, "episodes": len(rows), "seeds": list(cfg.seeds),
        "success_rate": float(np.mean(per_seed)),
        "success_rate_std_over_seeds": float(np.std(per_seed)),
        "success_rate_per_seed": per_seed,
        "mean_steps_to_success": float(np.mean(steps)) if steps else None,
        "median_final_distance": float(np.median([r["final_distance"] for r in rows])),
        "ms_per_plan": 1000 * float(np.mean(plan)),
        "ms_per_plan_median": 1000 * float(np.median(plan)),
        "plans": len(plan), "seconds": round(seconds, 1), "budget": cfg.env.budget,
        "horizon": agent.task.horizon,
        **({"corrections": corrections} if corrections else {}),
    }


def _write_episodes(path: Path, clips: list[list[np.ndarray]]) -> Path:
    """Episodes one after another, each held on its last frame for a moment."""
    frames = []
    for clip in clips:
        frames += clip + [clip[-1]] * 5
    return write_video(path, np.stack(frames), fps=10)


def plot(rows: list[dict], agent: Agent, budget: int, out: Path,
         corrections: list[dict] | None = None) -> list[Path]:
    """success_vs_budget.png, planned_cost.png (mean best cost per planner iteration) and,
    when the world model was corrected, correction.png (its held-out error before and
    after each correction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    steps = np.array([r["steps"] if r["success"] else np.inf for r in rows], dtype=float)
    budgets = np.arange(1, budget + 1)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(budgets, [(steps <= b).mean() for b in budgets])
    ax.set(xlabel="step budget", ylabel="success rate", ylim=(0, 1.02),
           title="success against budget")
    fig.tight_layout()
    paths.append(out / "success_vs_budget.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    history = getattr(agent.actor, "cost_history", None)
    if history:
        n = min(len(h) for h in history)
        curve = np.mean([h[:n] for h in history], axis=0)
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        ax.plot(np.arange(1, n + 1), curve, marker="o")
        ax.set(xlabel="planner iteration", ylabel="best planned cost (mean over calls)",
               title="planned cost over iterations")
        fig.tight_layout()
        paths.append(out / "planned_cost.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    if corrections:
        seen = [c["after_episodes"] for c in corrections]
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        ax.plot(seen, [c["error_before"] for c in corrections], marker="o", label="before")
        ax.plot(seen, [c["error_after"] for c in corrections], marker="o", label="after")
        ax.set(xlabel="episodes perceived", ylabel="held-out rollout error (MSE)",
               title="world-model correction", ylim=(0, None))
        ax.legend()
        fig.tight_layout()
        paths.append(out / "correction.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


def format_table(summary: dict) -> str:
    """One markdown row per run: success, spread, steps, final distance, time per plan."""
    steps = summary["mean_steps_to_success"]
    steps = "-" if steps is None else f"{steps:.1f}"
    rate, spread = 100 * summary["success_rate"], 100 * summary["success_rate_std_over_seeds"]
    return (
        "| env | actor | world model | success | steps to success | median final distance "
        "| ms / plan |\n"
        "|---|---|---|---:|---:|---:|---:|\n"
        f"| {summary['env']} | {summary['actor']} | {summary['world_model']} | "
        f"{rate:.0f}% +- {spread:.0f} ({summary['episodes']} ep) | {steps} | "
        f"{summary['median_final_distance']:.3f} | {summary['ms_per_plan']:.1f} |"
    )


