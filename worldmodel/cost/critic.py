"""The trainable critic TC(s, g): predicts the intrinsic cost still to come.

Trained from the short-term memory, and used as the terminal cost of a plan, so a short
horizon can see past its end. Its target (``critic_targets``) is either the discounted
intrinsic cost the episode went on to pay from s_tau (``return``: a cost-to-go, which
knows a wall lies between a state and its goal when episodes had to go round it) or the
intrinsic cost ``delta`` steps later (``later``: (IC(s_{tau+delta}) - TC(s_tau))^2).
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


def critic_targets(memory: ShortTermMemory, target: str = "return", delta: int = 10,
                   discount: float = 0.9) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The memory's perceived states [n, D], their goals [n, D] and what the critic should
    predict for them [n]: the discounted cost-to-go (``return``) or the intrinsic cost
    ``delta`` steps later (``later``)."""
    if target == "return":
        rows, to_go = memory.returns(discount)
        return rows["state"], rows["goal"], to_go
    if target == "later":
        now, later = memory.pairs(delta)
        return now["state"], now["goal"], later["cost"]
    raise ValueError(f"the critic's target is return or later, got {target!r}")


def fit_critic(critic: nn.Module, states: torch.Tensor, goals: torch.Tensor,
               wanted: torch.Tensor, steps: int = 200, batch_size: int = 256,
               lr: float = 1e-3, seed: int = 0) -> list[float]:
    """Regress TC(states [n, D], goals [n, D]) on ``wanted`` [n] (``critic_targets``) by
    squared error. Returns the losses."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(wanted), (min(batch_size, len(wanted)),), generator=gen)
        loss = (wanted[idx] - critic(states[idx], goals[idx])).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def train_critic(critic: nn.Module, memory: ShortTermMemory, delta: int = 10,
                 steps: int = 200, batch_size: int = 256, lr: float = 1e-3,
                 seed: int = 0, target: str = "later", discount: float = 0.9) -> list[float]:
    """Fit TC(s_tau, g) to ``critic_targets`` of the memory. Returns the losses."""
    states, goals, wanted = critic_targets(memory, target, delta, discount)
    if len(wanted) == 0:
        raise ValueError(
            f"memory holds no pair of states {delta} steps apart in one episode; "
            "run longer episodes or lower delta" if target == "later" else
            "memory holds no perceived step to learn a cost-to-go from"
        )
    return fit_critic(critic, states, goals, wanted, steps, batch_size, lr, seed)
