"""Action calibration: an affine map in front of a world model's action input.

When the world's response to an action changes (a slower agent, a weaker or miswired
actuator), the cheapest faithful correction is to re-map the action the model is told
about: a' = M a + c, with M starting at the identity and c at zero. Its A * (A + 1)
parameters cannot overfit the narrow data of the agent's own episodes, and being linear
in the action it holds for the candidate actions the planner tries but never took.
"""

from __future__ import annotations

import torch
from torch import nn


class ActionCalibration(nn.Module):
    """env actions [..., A] -> calibrated actions [..., A] = M a + c (identity at first)."""

    def __init__(self, action_dim: int) -> None:
        super().__init__()
        self.map = nn.Linear(action_dim, action_dim)
        with torch.no_grad():
            self.map.weight.copy_(torch.eye(action_dim))
            self.map.bias.zero_()

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        return self.map(actions.to(self.map.weight.dtype))
