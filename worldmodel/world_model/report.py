"""How good a trained world model is, on held-out episodes.

* Prediction error against horizon: latent L1 of the autoregressive rollout, and the error
  of the true position decoded by a linear probe from predicted latents, each beside the
  copy-last-state baseline (predict that nothing moves). The position is the environment's
  achieved goal (the point mass's x, y; Reacher's fingertip), not raw state dimensions:
  Reacher's joint angles are unbounded and say nothing linear about where the arm is.
* Energy landscape: the planning cost (distance of the predicted latent to the true next
  latent) as a function of the first action on a grid around the true action.
* Latent step ratio: how far a latent moves in one step against how far latents spread over
  the data. Near sqrt(2) the latent of the next frame is as unrelated to this one as any
  other frame's (a hash of the state, not a smooth map of it): no predictor can follow it,
  and an L1-trained one predicts the mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import worldmodel.envs  # noqa: F401  (registers the tasks gym.make builds)
from worldmodel.data.dataset import DatasetMeta, EpisodeDataset
from worldmodel.probe import fit_linear

HORIZONS = (1, 5, 10, 20)


@torch.no_grad()
def encode_episodes(net, pixels: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """Episodes [E, T+1, C, H, W] -> latents [E, T+1, D] (a frame history is padded at the
    start by repeating the first frame)."""
    device = next(net.parameters()).device
    return torch.cat([net.encode(pixels[i:i + batch].to(device), pad=True).float().cpu()
                      for i in range(0, len(pixels), batch)])


def agent_position(meta: DatasetMeta, states: torch.Tensor) -> torch.Tensor:
    """True states [..., S] -> the agent's position in goal space [..., G], as the dataset's
    environment measures success."""
    env = gym.make(meta.env_id, **meta.env_kwargs)
    try:
        achieved = env.unwrapped.achieved_goal(states.numpy())
    finally:
        env.close()
    return torch.as_tensor(np.asarray(achieved), dtype=torch.float32)


def latent_step_ratio(z: torch.Tensor) -> float:
    """Latents of episodes [E, T, D] -> RMS one-step change over RMS spread about the mean,
    summed over dimensions (0: frozen; small: smooth in time; sqrt(2): independent draws)."""
    flat = z.flatten(0, 1)
    step = (z[:, 1:] - z[:, :-1]).pow(2).mean((0, 1)).sum().sqrt()
    spread = (flat - flat.mean(0)).pow(2).mean(0).sum().sqrt()
    return float(step / spread.clamp_min(1e-12))


@torch.no_grad()
def evaluate_world_model(net, data: EpisodeDataset, test_eps: list[int], train_eps: list[int],
                         out: Path, max_episodes: int = 64) -> dict:
    """Errors against horizon and an energy landscape; writes report.json and plots."""
    eps = data.episodes
    test = test_eps[:max_episodes]
    train = train_eps[:max_episodes]
    # One environment build for both sets: building some tasks writes files (a maze XML).
    pos_train, pos = agent_position(data.meta, eps["state"][train + test]).split(
        [len(train), len(test)])
    z_train = encode_episodes(net, eps["pixels"][train])
    probe = fit_linear(z_train.flatten(0, 1), pos_train.flatten(0, 1))
    z = encode_episodes(net, eps["pixels"][test])
    actions = eps["action"][test]
    T, k = actions.shape[1], net.frameskip  # horizons count model steps of k env steps
    rows = []
    for h in [h for h in HORIZONS if h * k <= T]:
        n = h * k
        starts = torch.arange(0, T - n + 1, max(1, (T - n + 1) // 8))
        pred_l1, copy_l1, pred_pos, copy_pos = [], [], [], []
        for s in starts.tolist():
            rollout = net.predictor.rollout(z[:, s], net.chunk(actions[:, s:s + n]))[:, -1]
            true = z[:, s + n]
            pred_l1.append((rollout - true).abs().mean())
            copy_l1.append((z[:, s] - true).abs().mean())
            pred_pos.append((probe(rollout) - pos[:, s + n]).norm(dim=-1).mean())
            copy_pos.append((pos[:, s] - pos[:, s + n]).norm(dim=-1).mean())
        rows.append({"horizon": h, "env_steps": n,
                     "latent_l1": float(torch.stack(pred_l1).mean()),
                     "latent_l1_copy_last": float(torch.stack(copy_l1).mean()),
                     "position_error": float(torch.stack(pred_pos).mean()),
                     "position_error_copy_last": float(torch.stack(copy_pos).mean())})
    probe_fit = float((probe(z) - pos).norm(dim=-1).mean())
    landscape = energy_landscape(net, z, actions, k)
    report = {"horizons": rows, "probe_position_error_on_true_latents": probe_fit,
              "latent_step_ratio": latent_step_ratio(z),
              "energy_landscape": landscape["summary"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    report["plots"] = [str(p) for p in _plot(rows, landscape, out)]
    return report


@torch.no_grad()
def energy_landscape(net, z: torch.Tensor, actions: torch.Tensor, frameskip: int = 1,
                     transitions: int = 4, grid: int = 21) -> dict:
    """Cost ||f(z_t, a) - z_{t+k}|| over a grid of first actions a in [-1, 1]^2 (first two
    action dimensions; the other k-1 env actions of a model step stay true), for a few
    held-out transitions. z [E, T+1, D], actions [E, T, A]."""
    values = torch.linspace(-1, 1, grid)
    a0, a1 = torch.meshgrid(values, values, indexing="ij")
    maps, gaps = [], []
    k = frameskip
    for i in range(min(transitions, z.shape[0])):
        t = 3 + 7 * i % max(1, actions.shape[1] - 3 - k)
        cand = actions[i, t:t + k].flatten().repeat(grid * grid, 1)
        cand[:, 0], cand[:, 1] = a0.flatten(), a1.flatten()
        nxt = net.predictor.step(z[i, t].expand(grid * grid, -1), cand)
        cost = (nxt - z[i, t + k]).norm(dim=-1).reshape(grid, grid)
        best = torch.nonzero(cost == cost.min())[0]
        argmin = torch.stack([values[best[0]], values[best[1]]])
        gaps.append(float((argmin - actions[i, t, :2].clamp(-1, 1)).norm()))
        maps.append((cost, actions[i, t, :2]))
    return {"maps": maps, "summary": {"mean_distance_argmin_to_true_action": sum(gaps) / len(gaps),
                                      "grid_step": float(values[1] - values[0])}}


def _plot(rows: list[dict], landscape: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hs = [r["env_steps"] for r in rows]  # env steps: models of any frameskip compare
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    a.plot(hs, [r["latent_l1"] for r in rows], "o-", label="world model")
    a.plot(hs, [r["latent_l1_copy_last"] for r in rows], "s--", label="copy last state")
    a.set(xlabel="horizon (env steps)", ylabel="latent L1", title="latent prediction error")
    b.plot(hs, [r["position_error"] for r in rows], "o-", label="world model")
    b.plot(hs, [r["position_error_copy_last"] for r in rows], "s--", label="copy last state")
    b.set(xlabel="horizon (env steps)", ylabel="position error (probe)",
          title="decoded position error")
    for ax in (a, b):
        ax.legend()
    fig.tight_layout()
    p1 = out / "prediction_error.png"
    fig.savefig(p1, dpi=110)
    plt.close(fig)
    maps = landscape["maps"]
    fig, axes = plt.subplots(1, len(maps), figsize=(3.2 * len(maps), 3))
    for ax, (cost, true) in zip(list(axes) if len(maps) > 1 else [axes], maps, strict=True):
        ax.imshow(cost.T.numpy(), origin="lower", extent=(-1, 1, -1, 1), cmap="viridis")
        ax.plot(*true.clamp(-1, 1).tolist(), "r*", markersize=12)
        ax.set(xlabel="a[0]", ylabel="a[1]", title="energy vs first action")
    fig.tight_layout()
    p2 = out / "energy_landscape.png"
    fig.savefig(p2, dpi=110)
    plt.close(fig)
    return [p1, p2]
