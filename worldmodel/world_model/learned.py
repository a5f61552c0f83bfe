"""A trained latent predictor behind the WorldModel interface."""

from __future__ import annotations

import copy

import torch

from .base import chunk_actions
from .calibration import ActionCalibration
from .fused_rollout import FusedMLPRollout, fused_ops_available
from .predictors import MLPPredictor


def rolls_out_fused(predictor: torch.nn.Module, fused: bool = True,
                    dtype: torch.dtype = torch.float32) -> bool:
    """Whether planning rolls ``predictor`` out through ``FusedMLPRollout`` in ``dtype``: a
    residual MLP on CPU, ``fused`` asked for, and oneDNN's fused ops on this build and CPU."""
    return (fused and isinstance(predictor, MLPPredictor)
            and all(p.device.type == "cpu" for p in predictor.parameters())
            and fused_ops_available(dtype))


class LearnedWorldModel:
    """Wraps a predictor with ``step``/``rollout``, frozen.

    With ``bf16`` the predictor runs on a bf16 copy of its weights. Autocast would do the
    same arithmetic but re-casts every weight on every call when weights need no gradient,
    which on a CPU costs as much as the planning rollout's matmuls themselves.

    With ``fused`` a residual MLP predictor on CPU rolls out through ``FusedMLPRollout``
    (each layer one oneDNN call) whenever no gradient is needed; the gradient planner and
    CUDA take the predictor's own rollout. Its speed-up depends on the CPU (measured in
    docs/benchmarks.md); ``fused=False`` is there to compare.

    With ``int8`` the fused rollout runs its hidden-to-hidden layers in int8 (1.4x
    faster on an AVX2 CPU, the plans' ranking kept; docs/benchmarks.md). It needs the
    fused fp32 path: a residual MLP predictor on CPU, ``fused`` and no ``bf16``.
    """

    differentiable = True

    def __init__(self, predictor: torch.nn.Module, bf16: bool = False,
                 z_std: float = 0.0, frameskip: int = 1, fused: bool = True,
                 int8: bool = False) -> None:
        self.predictor = predictor.eval().requires_grad_(False)
        self.bf16 = bf16
        # A predictor with a latent variable: z = 0 (the mean future) or, with z_std > 0,
        # a sample z ~ N(0, z_std^2) per candidate and step: each candidate meets a future.
        self.z_std = z_std
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.fused = fused
        self.int8 = int8
        self.refresh()
        # A model step spans ``frameskip`` env steps and takes their actions as one: plans
        # stay sequences of env actions, and the model sees one state per ``frameskip``.
        if frameskip < 1 or predictor.action_dim % frameskip:
            raise ValueError(f"frameskip {frameskip} does not divide the predictor's "
                             f"{predictor.action_dim}-d model action")
        self.frameskip = frameskip
        self.action_dim = predictor.action_dim // frameskip
        self.calibration: ActionCalibration | None = None  # set by a Corrector

    def calibrate(self, actions: torch.Tensor) -> torch.Tensor:
        """Env actions [..., A] -> the actions the predictor is told about (the
        ``calibration``'s map when there is one)."""
        return actions if self.calibration is None else self.calibration(actions)

    def predict(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``rollout`` through the fp32 predictor itself, differentiable in its weights and
        the calibration's (what a ``Corrector`` trains). state [B, D], env actions [B, H, A]
        -> states [B, H/k, D]."""
        return self.predictor.rollout(state, chunk_actions(self.calibrate(actions),
                                                           self.frameskip))

    def refresh(self) -> None:
        """Take the predictor's weights as they are now into the copies planning runs on
        (the bf16 copy, the fused layers' packed weights): after the predictor is trained
        further (``Corrector``)."""
        self._net = (copy.deepcopy(self.predictor).to(self.dtype) if self.bf16
                     else self.predictor)
        self._fused = (FusedMLPRollout(self._net, int8=self.int8)
                       if rolls_out_fused(self._net, self.fused, self.dtype) else None)
        if self.int8 and (self._fused is None or self.bf16):
            raise ValueError("int8 planning layers need the fused fp32 rollout: a residual MLP "
                             "predictor on CPU with fused=true and bf16=false; set "
                             "world_model.int8=false for this model")

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """state [B, D], action [B, A] (or [B, k*A], the k env actions of one model step
        for a frameskip of k) -> next state [B, D] (fp32)."""
        if action.shape[-1] != self.action_dim * self.frameskip:
            raise ValueError(f"one step of this world model takes {self.frameskip} env "
                             f"action(s) of {self.action_dim} dims; use rollout for env actions")
        if self.calibration is not None:  # it maps each of the k env actions
            action = self.calibrate(action.unflatten(-1, (self.frameskip, -1))).flatten(-2)
        return self._net.step(state.to(self.dtype), action.to(self.dtype)).float()

    def rollout(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """state [B, D], env actions [B, H, A] -> states [B, H/k, D] (fp32) after every k-th
        action for a frameskip of k (H a multiple of k)."""
        if actions.shape[-1] != self.action_dim:
            raise ValueError(f"the world model takes {self.action_dim}-d actions, got "
                             f"{actions.shape[-1]}-d")
        actions = chunk_actions(self.calibrate(actions), self.frameskip)  # a multiple of k
        inputs = [state.to(self.dtype), actions.to(self.dtype)]
        z_dim = getattr(self._net, "z_dim", 0)
        if self.z_std > 0 and z_dim:
            z = self.z_std * torch.randn(*actions.shape[:-1], z_dim, device=actions.device)
            inputs.append(z.to(self.dtype))
        if self._fused is not None and not torch.is_grad_enabled():  # built on CPU only
            return self._fused(*inputs).float()
        return self._net.rollout(*inputs).float()
