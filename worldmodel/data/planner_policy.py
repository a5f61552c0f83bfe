"""The agent of a ``jepa plan`` run as a behaviour policy: data from the planner's own episodes.

A world model trained only on an expert's episodes has never seen the action sequences a
planner tries, and the planner finds exactly the sequences the model scores wrongly. Collecting
with the planner itself (plus exploration noise) and training again on those episodes is the
data loop of model-based RL (PlaNet, TD-MPC): the model is corrected where the planner
goes.

    jepa collect env=reacher policy=planner planner=runs/plan/<run>/results.json noise=0.3
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
from omegaconf import OmegaConf

from .policies import NoisyExpert


def load_plan_config(results: str | Path):
    """The full ``PlanConfig`` a ``jepa plan`` run saved in its results.json."""
    from worldmodel.evaluation import PlanConfig

    path = Path(results)
    if not path.is_file():
        raise FileNotFoundError(
            f"planner={results}: no such file; pass the results.json of a `jepa plan` run"
        )
    saved = json.loads(path.read_text())
    if "config" not in saved:
        raise ValueError(f"{path} holds no 'config': it is not the results.json of `jepa plan`")
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(PlanConfig),
                                               saved["config"]))


class PlannerPolicy(NoisyExpert):
    """Actions [N, A] of the six-module agent planning towards each episode's goal, with
    the AR(1) exploration noise of :class:`NoisyExpert` on top (``noise`` 0: the planner as
    it is). Reads the observation (``pixels``, ``goal``) from the policy's info dict."""

    def __init__(self, results: str | Path, env_id: str, env_kwargs: dict,
                 noise: float = 0.3, correlation: float = 0.0) -> None:
        super().__init__(noise, correlation)
        from worldmodel.evaluation import build_agent

        cfg = load_plan_config(results)
        if cfg.env.id != env_id:
            raise ValueError(f"the planner of {results} plans in {cfg.env.id}, not {env_id}: "
                             "collect in that environment or plan in this one first")
        env = gym.make(env_id, **env_kwargs)
        try:
            self.agent = build_agent(cfg, env)
        finally:
            env.close()
        self.horizon = cfg.env.horizon
        self._goal_set = False

    def reset(self) -> None:
        super().reset()
        self._goal_set = False

    def expert(self, info: dict) -> np.ndarray:
        if "pixels" not in info:
            raise KeyError("the planner policy needs the observation ('pixels', 'goal') in info")
        if not self._goal_set:  # the goal is known only once the episodes have started
            goal = info["goal"] if self.agent.perception.observation_key == "pixels" \
                else info["goal_pose"]
            self.agent.reset(goal, horizon=self.horizon)
            self._goal_set = True
        return self.agent.step({"pixels": info["pixels"], "state": info["state"]})
