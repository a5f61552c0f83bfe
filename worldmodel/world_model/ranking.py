"""Does a learned world model rank candidate plans as the true simulator does?

Model error, not planner error, is what a planner cannot search its way out of. From each
start state (a reset plus a few random steps), smooth random action sequences (a constant
push plus noise, as a planner's search tries them) are rolled out twice: through the
learned model from the perceived latent, and through the true simulator (the oracle) from
the true state. The model is scored by how its planning cost (L1 to the goal latent at
the last step) orders them against the true final distance to the goal; the same score
on the encoded true final frames is the ceiling the encoder's latent geometry allows, so
the gap between the two is the predictor's share.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from worldmodel.build import ModuleConfig, build_perception, build_world_model


def ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x))


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two score vectors [N]."""
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


@torch.no_grad()
def rank_plans(checkpoint: str, env_id: str, starts: int = 12, plans: int = 400,
               horizon: int = 15, amplitude: float = 0.5, seed: int = 0,
               env_kwargs: dict | None = None) -> dict:
    """Averages over ``starts`` start states of ``plans`` sequences of ``horizon`` actions:
    ``rank_correlation`` (model cost against true final distance; 1 perfect, 0 blind),
    ``encoder_rank_correlation`` (the same with the true final frames encoded), the true
    final distance of the model's 10 cheapest plans beside the truly best 10 and the
    median plan, and the latent L1 of the predicted last state to the encoded true one
    beside copy-last. ``env_kwargs`` make the task as the model was trained (its
    rendering)."""
    import worldmodel.envs  # noqa: F401  (registers the project's tasks)

    env = gym.make(env_id, **(env_kwargs or {}))
    base = env.unwrapped
    perception = build_perception(ModuleConfig("learned", checkpoint), env)
    model = build_world_model(ModuleConfig("learned", checkpoint), env)
    oracle = build_world_model(ModuleConfig("oracle"), env)
    k = perception.frames
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    A = env.action_space.shape[0]
    rows = []
    for i in range(starts):
        obs, info = env.reset(seed=seed * 1000 + i)
        frames = [obs["pixels"]] * k
        for _ in range(int(rng.integers(k, 10))):  # moving, with a real frame history
            obs, *_, info = env.step(rng.uniform(-1, 1, A).astype(np.float32))
            frames = frames[1:] + [obs["pixels"]]
        z0 = perception.encode(torch.as_tensor(np.concatenate(frames))[None])
        goal = perception.encode(torch.as_tensor(obs["goal"])[None])
        push = amplitude * (2 * torch.rand(plans, 1, A, generator=gen) - 1)
        noise = amplitude * torch.randn(plans, horizon, A, generator=gen)
        actions = (push + noise).clamp(-1, 1)
        predicted = model.rollout(z0.expand(plans, -1), actions)[:, -1]
        true_states = oracle.rollout(torch.as_tensor(info["state"])[None].expand(plans, -1),
                                     actions)[:, -1].numpy()
        distance = np.linalg.norm(base.achieved_goal(true_states) - info["goal_state"], axis=-1)
        cost = (predicted - goal).abs().mean(-1).numpy()
        last = torch.stack([torch.as_tensor(base.draw(s)).permute(2, 0, 1) for s in true_states])
        encoded = perception.encode(last)  # the true last frame, read at rest
        true_cost = (encoded - goal).abs().mean(-1).numpy()
        cheapest = np.argsort(cost)[:10]
        rows.append({
            "rank_correlation": rank_correlation(cost, distance),
            "encoder_rank_correlation": rank_correlation(true_cost, distance),
            "model_top10_distance": float(distance[cheapest].mean()),
            "best10_distance": float(np.sort(distance)[:10].mean()),
            "median_distance": float(np.median(distance)),
            "latent_l1": float((predicted - encoded).abs().mean()),
            "latent_l1_copy_last": float((z0 - encoded).abs().mean()),
        })
    env.close()
    summary = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    return {"checkpoint": checkpoint, "env_id": env_id, "starts": starts, "plans": plans,
            "horizon": horizon, "amplitude": amplitude, **summary}
