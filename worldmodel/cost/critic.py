"""The trainable critic TC(s, g): predicts the intrinsic cost still to come.

Trained from the short-term memory by minimising (IC(s_{tau+delta}) - TC(s_tau))^2, and
used as the terminal cost of a plan, so a short horizon can see past its end.
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.memory import ShortTermMemory


class MLPCritic(nn.Module):
    """TC(state, goal) -> [B] >= 0, an MLP on the pair."""

    def __init__(self, state_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * state_dim, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 1), nn.Softplus(),
        )

    def forward(self, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """state [B, D], goal [B, D] -> [B]."""
        return self.net(torch.cat([state, goal], dim=-1)).squeeze(-1)


def train_critic(critic: nn.Module, memory: ShortTermMemory, delta: int = 10,
                 steps: int = 200, batch_size: int = 256, lr: float = 1e-3,
                 seed: int = 0) -> list[float]:
    """Fit TC(s_tau) to IC(s_{tau+delta}) on the memory's perceived pairs. Returns losses."""
    now, later = memory.pairs(delta)
    if len(now) == 0:
        raise ValueError(
            f"memory holds no pair of states {delta} steps apart in one episode; "
            "run longer episodes or lower delta"
        )
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(now), (min(batch_size, len(now)),), generator=gen)
        pred = critic(now["state"][idx], now["goal"][idx])
        loss = (later["cost"][idx] - pred).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
