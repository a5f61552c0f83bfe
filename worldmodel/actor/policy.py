"""Mode-1 actor: a reactive policy pi(s, g), distilled from Mode-2's planned actions."""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.cost.base import TaskConfig
from worldmodel.memory import ShortTermMemory

from .base import checked_actions


class PolicyNet(nn.Module):
    """pi(state, goal) -> action in [-1, 1]: an MLP with a tanh head."""

    def __init__(self, state_dim: int, action_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * state_dim, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, action_dim), nn.Tanh(),
        )

    def forward(self, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """state [B, D], goal [B, D] -> action [B, A]."""
        return self.net(torch.cat([state, goal], dim=-1))

    @torch.no_grad()
    def imagine(self, world_model, state: torch.Tensor, goal: torch.Tensor,
                horizon: int) -> torch.Tensor:
        """Roll the policy through a world model: a warm start for Mode-2 -> [B, H, A].

        A world model of frameskip k steps k env steps at once: the policy's action is held
        for them."""
        k = getattr(world_model, "frameskip", 1)
        actions = []
        for _ in range(-(-horizon // k)):
            a = self(state, goal)
            actions.append(a[:, None].expand(-1, k, -1))
            state = world_model.step(state, a.repeat(1, k))
        return torch.cat(actions, dim=1)[:, :horizon]


class PolicyActor:
    """Acts with the policy alone: one forward pass per step."""

    def __init__(self, policy: PolicyNet) -> None:
        self.policy = policy

    def reset(self) -> None:
        pass

    @torch.no_grad()
    def act(self, state: torch.Tensor, task: TaskConfig,
            memory: ShortTermMemory | None = None) -> torch.Tensor:
        return checked_actions(self.policy(state, task.goal), "policy")


def distill(policy: PolicyNet, states: torch.Tensor, goals: torch.Tensor,
            actions: torch.Tensor, steps: int = 500, batch_size: int = 256, lr: float = 1e-3,
            seed: int = 0) -> list[float]:
    """Regress pi(s, g) onto Mode-2's actions [N, A] (mean squared error). Returns losses."""
    if not (len(states) == len(goals) == len(actions)) or len(states) == 0:
        raise ValueError("distill needs as many states, goals and actions, and at least one")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(states), (min(batch_size, len(states)),), generator=gen)
        loss = (policy(states[idx], goals[idx]) - actions[idx]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def distill_from_memory(policy: PolicyNet, memory: ShortTermMemory, **kwargs) -> list[float]:
    """Distil from the perceived rows of the memory (state, goal, executed action)."""
    rows = memory.read(imagined=False)
    return distill(policy, rows["state"], rows["goal"], rows["action"], **kwargs)
