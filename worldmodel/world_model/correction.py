"""World-model correction: the world model fitted further to what the agent perceived.

The short-term memory holds windows of perceived latents and the actions taken between
them. When the world differs from the one the model learned (a slower agent, a weaker
actuator), what the planner predicts drifts from what perception then reports. A few
gradient steps on those windows (the multi-step latent rollout error that ``jepa train``
uses) pull the model towards the world as it is. The encoder is left alone, so goal
latents and the cost keep their meaning. In LeCun's architecture the short-term memory
feeds world-model correction; ``jepa plan correction.steps=N`` runs it between batches of
episodes.

What is trained (``params``):

* ``action``: an affine ``ActionCalibration`` in front of the frozen predictor. It cannot
  overfit the agent's own narrow episodes and, linear in the action, holds for the
  candidates the planner tries but never took. It corrects how actions act, not the
  dynamics of the state itself.
* ``all``: the predictor's weights, drawn back towards where they started (``anchor``: an
  L2 penalty on the change). Fits any shift, but learns from on-policy data only: the
  planner then searches actions the memory never saw (docs/benchmarks.md measures both).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from worldmodel.config import check_ranges
from worldmodel.jepa.checkpoint import CheckpointError, load, save_atomic
from worldmodel.memory import ShortTermMemory

from .calibration import ActionCalibration
from .learned import LearnedWorldModel


@dataclass
class CorrectionConfig:
    """``jepa plan correction.*``: online correction of a learned world model."""

    steps: int = 0  # gradient steps after each batch of episodes (0: no correction)
    params: str = "action"  # action (an affine action calibration) | all (the predictor)
    anchor: float = 0.0  # params=all: weight of the squared change of the predictor's weights
    horizon: int = 4  # model steps per window of the rollout loss
    batch_size: int = 64
    lr: float = 1e-2  # suits params=action; params=all wants about 3e-4
    held_out: float = 0.2  # fraction of the windows scored before and after, not trained on

    def __post_init__(self) -> None:
        check_ranges(self, positive=("horizon", "batch_size"),
                     non_negative=("steps", "lr", "anchor"), group="correction")
        if self.params not in ("action", "all"):
            raise ValueError(f"correction.params must be action or all, got {self.params!r}")
        if not 0 < self.held_out < 1:
            raise ValueError(f"correction.held_out is a fraction within (0, 1), got "
                             f"{self.held_out}")


class Corrector:
    """Fits ``model`` (its action calibration or its predictor, in place) to the memory's
    perceived windows, keeping the optimiser's state from one correction to the next."""

    def __init__(self, model: LearnedWorldModel, cfg: CorrectionConfig, seed: int = 0) -> None:
        if not isinstance(model, LearnedWorldModel):
            raise ValueError("correction fits a learned world model: use world_model=learned, "
                             "or correction.steps=0")
        self.model, self.cfg = model, cfg
        device = next(model.predictor.parameters(), torch.zeros(())).device
        if cfg.params == "action":
            if model.calibration is None:
                model.calibration = ActionCalibration(model.action_dim).to(device)
            self.module = model.calibration
        else:
            # Its own copy: the loaded network is shared (perception, and later runs in the
            # same process, e.g. a sweep) and must stay as it was loaded.
            model.predictor = copy.deepcopy(model.predictor)
            model.refresh()
            self.module = model.predictor
        self.params = list(self.module.parameters())
        self.start = [p.detach().clone() for p in self.params]
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.device = device

    def windows(self, memory: ShortTermMemory) -> tuple[torch.Tensor, torch.Tensor]:
        """Perceived windows: states at the model's steps [n, H+1, D] and the env actions
        between them [n, k*H, A] for a frameskip of k."""
        k = self.model.frameskip
        states, actions = memory.windows(self.cfg.horizon * k)
        return states[:, ::k].to(self.device), actions.to(self.device)

    def error(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Mean squared latent error of the model's rollout from each window's first state,
        over the window's steps."""
        return F.mse_loss(self.model.predict(states[:, 0], actions), states[:, 1:])

    def drift(self) -> torch.Tensor:
        """Squared change of the trained parameters since the first correction."""
        return sum((p - p0).pow(2).sum() for p, p0 in zip(self.params, self.start, strict=True))

    def __call__(self, memory: ShortTermMemory) -> dict | None:
        """Correct on the memory's windows -> the held-out windows' error before and after,
        or None when the memory holds too few windows to hold any out."""
        states, actions = self.windows(memory)
        n = len(states)
        scored = int(n * self.cfg.held_out)
        if scored < 1 or n - scored < 1:
            return None
        order = torch.randperm(n, generator=self.generator)
        test, train = order[:scored], order[scored:]
        with torch.no_grad():
            before = self.error(states[test], actions[test]).item()
        self.module.train().requires_grad_(True)
        try:
            for _ in range(self.cfg.steps):
                pick = train[torch.randint(len(train), (self.cfg.batch_size,),
                                           generator=self.generator)]
                loss = self.error(states[pick], actions[pick])
                if self.cfg.anchor and self.cfg.params == "all":
                    loss = loss + self.cfg.anchor * self.drift()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.params, 1.0)
                self.optimizer.step()
        finally:
            self.module.eval().requires_grad_(False)
            if self.cfg.params == "all":
                self.model.refresh()  # the planning copies take the new weights
        with torch.no_grad():
            after = self.error(states[test], actions[test]).item()
        report = {"windows": n, "error_before": before, "error_after": after}
        if self.cfg.params == "action":  # how actions act now, as the model is told
            report["calibration"] = {"weight": self.model.calibration.map.weight.tolist(),
                                     "bias": self.model.calibration.map.bias.tolist()}
        return report

    def save(self, source: str | Path, path: str | Path) -> Path:
        """The `jepa train` checkpoint ``source`` as corrected, written atomically to
        ``path``: the predictor's weights as they are now (``params=all``) or the action
        calibration beside them (``params=action``). ``world_model.checkpoint=<path>``
        plans with it; perception is unchanged."""
        ckpt = load(source)
        if self.cfg.params == "all":
            ckpt["model"] = {**ckpt["model"], **{
                f"predictor.{k}": v.detach().cpu()
                for k, v in self.model.predictor.state_dict().items()}}
        else:
            calibration = self.model.calibration.map
            ckpt["action_calibration"] = {"weight": calibration.weight.detach().cpu(),
                                          "bias": calibration.bias.detach().cpu()}
        ckpt.pop("optimizer", None)
        ckpt["correction"] = {**asdict(self.cfg), "source": str(source)}
        return save_atomic(ckpt, path)


def load_calibration(ckpt: dict[str, Any], action_dim: int,
                     device: torch.device | str = "cpu") -> ActionCalibration | None:
    """The action calibration a corrected checkpoint carries (``Corrector.save``), on
    ``device`` (its predictor's), or None."""
    stored = ckpt.get("action_calibration")
    if stored is None:
        return None
    calibration = ActionCalibration(action_dim)
    try:
        calibration.map.load_state_dict(stored)
    except RuntimeError as err:
        raise CheckpointError(f"the checkpoint's action calibration does not fit "
                              f"{action_dim}-d actions: {err}") from err
    return calibration.to(device).eval().requires_grad_(False)
