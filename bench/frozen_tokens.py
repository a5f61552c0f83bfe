"""Do the frozen I-JEPA patch tokens hold the agent's position, and can a predictor follow
them? (Two Rooms; the reason for ``pooling=keypoints`` in the frozen recipe.)

    python bench/frozen_tokens.py [--data bench_results/probe15/data]
        [--checkpoint bench_results/probe15/ijepa/last.pt] [--steps 1500]

Encodes every frame once (fp32 tokens less each position's training mean, over their
spread), fits an attentive probe (a softmax over patches, each adding a learned centre and
an offset) on training tokens and scores it on held-out ones, then trains a conv predictor
over the 8x8 token grid (teacher-forced + 8-step rollout L1, bf16) and decodes its
rollouts with that probe beside copy-last. About 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn as nn

from worldmodel.data.dataset import EpisodeDataset
from worldmodel.jepa.pretrain import model_from_checkpoint
from worldmodel.world_model.base import StepRollout
from worldmodel.world_model.report import agent_position


class AttentiveProbe(nn.Module):
    """Tokens [..., N, D] -> position [..., 2]: softmax(score(token) + w |token|) over the
    patches, each contributing a learned centre plus an offset read from its token."""

    def __init__(self, dim: int, tokens: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 64), nn.GELU(),
                                   nn.Linear(64, 1))
        self.off = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 64), nn.GELU(),
                                 nn.Linear(64, 2))
        self.centre = nn.Parameter(torch.zeros(tokens, 2))
        self.norm_w = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = (self.score(x).squeeze(-1) + self.norm_w * x.norm(dim=-1)).softmax(-1)
        return (w.unsqueeze(-1) * (self.centre + self.off(x))).sum(-2)


class GridPredictor(StepRollout, nn.Module):
    """Token grid [B, N, D] and action [B, A] -> next grid: residual 3x3 convolutions over
    the patch grid with the action broadcast to every patch."""

    def __init__(self, dim: int, action_dim: int, side: int = 8, hidden: int = 96,
                 blocks: int = 3) -> None:
        super().__init__()
        self.side, self.dim = side, dim
        self.inp = nn.Conv2d(dim + action_dim, hidden, 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.GroupNorm(8, hidden), nn.Conv2d(hidden, hidden, 3, padding=1),
                          nn.GELU(), nn.Conv2d(hidden, hidden, 3, padding=1))
            for _ in range(blocks))
        self.out = nn.Conv2d(hidden, dim, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def step(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        s = self.side
        g = x.transpose(1, 2).reshape(x.shape[0], self.dim, s, s)
        h = self.inp(torch.cat([g, a[:, :, None, None].expand(-1, -1, s, s)], 1))
        for block in self.blocks:
            h = h + block(h)
        return x + self.out(h).flatten(2).transpose(1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="bench_results/probe15/data")
    parser.add_argument("--checkpoint", default="bench_results/probe15/ijepa/last.pt")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = EpisodeDataset.open(args.data)
    eps = data.episodes
    train, test = data.split(0.1)
    vit = model_from_checkpoint(args.checkpoint)[0].encoder.eval()
    pixels = eps["pixels"]
    E, T = pixels.shape[:2]
    start = time.time()
    with torch.no_grad():
        flat = pixels.flatten(0, 1)
        toks = torch.cat([vit(flat[i:i + 512]).float() for i in range(0, len(flat), 512)])
    toks = toks.view(E, T, vit.cfg.num_tokens, -1)
    print(f"encoded {tuple(toks.shape)} in {time.time() - start:.0f} s", flush=True)
    D = toks.shape[-1]
    mean = toks[train].mean((0, 1))
    z = (toks - mean) / (toks[train] - mean).std()
    pos = agent_position(data.meta, eps["state"])
    act = eps["action"].float()

    probe = AttentiveProbe(D, vit.cfg.num_tokens)
    with torch.no_grad():  # start each centre where the agent is when its patch stands out
        idx, p = z[train].norm(dim=-1).argmax(-1), pos[train]
        for i in range(vit.cfg.num_tokens):
            if (idx == i).any():
                probe.centre[i] = p[idx == i].mean(0)
    opt = torch.optim.Adam(probe.parameters(), 3e-3)
    ztr, ptr = z[train].flatten(0, 1), pos[train].flatten(0, 1)
    for _ in range(1500):
        b = torch.randint(len(ztr), (256,))
        loss = (probe(ztr[b]) - ptr[b]).norm(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    probe.requires_grad_(False)
    err = (probe(z[test].flatten(0, 1)) - pos[test].flatten(0, 1)).norm(dim=-1).mean()
    print(f"attentive probe on true tokens: {err:.4f}", flush=True)

    pred, H = GridPredictor(D, act.shape[-1], side=vit.cfg.grid[0]), 8
    opt = torch.optim.AdamW(pred.parameters(), 1e-3, weight_decay=0.0)
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        e = torch.tensor(train)[torch.randint(len(train), (32,))]
        s = torch.randint(T - H, (32,))
        win = torch.stack([z[i, j:j + H + 1] for i, j in zip(e, s, strict=True)])
        aw = torch.stack([act[i, j:j + H] for i, j in zip(e, s, strict=True)])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            tf = pred.step(win[:, :-1].flatten(0, 1), aw.flatten(0, 1)).view_as(win[:, 1:])
            ro = pred.rollout(win[:, 0], aw)
        loss = (tf.float() - win[:, 1:]).abs().mean() + (ro.float() - win[:, 1:]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        zt, at, pt = z[test], act[test], pos[test]
        for h in (1, 5, 10, 20):
            pe, ce = [], []
            for s in range(0, T - h, max(1, (T - h) // 8)):
                r = pred.rollout(zt[:, s], at[:, s:s + h])[:, -1]
                pe.append((probe(r) - pt[:, s + h]).norm(dim=-1).mean())
                ce.append((pt[:, s] - pt[:, s + h]).norm(dim=-1).mean())
            print(f"horizon {h}: position error {torch.stack(pe).mean():.4f}, copy-last "
                  f"{torch.stack(ce).mean():.4f}", flush=True)


if __name__ == "__main__":
    main()
