"""Counting a step's floating-point operations, the fused linear layers included.

``torch.utils.flop_counter`` knows PyTorch's matrix products but not oneDNN's linear with a
fused bias, GELU or residual add (``worldmodel.jepa.vit.linear``, which a bf16 target pass
takes on a CPU with native bf16): without its formula the counter would miss every product
of that pass and report a flop ratio far below the step's real one.
"""

from __future__ import annotations

import math

import torch
from torch.utils.flop_counter import FlopCounterMode


def _fused_linear_flops(x_shape: torch.Size, *args, **kwargs) -> int:
    """x [..., in] by weight [out, in], two operations per multiply-add. The operator's
    ``default`` overload takes (x, weight, bias, activation, ...), its ``binary`` one (a
    residual added) (x, residual, weight, bias, ...): the activation's name tells them
    apart."""
    weight_shape = args[0] if isinstance(args[2], str) else args[1]
    return 2 * math.prod(x_shape[:-1]) * weight_shape[0] * weight_shape[1]


def flop_counter() -> FlopCounterMode:
    """A silent flop counter that also counts oneDNN's fused linear layers."""
    custom = {}
    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        custom[torch.ops.mkldnn._linear_pointwise] = _fused_linear_flops
    return FlopCounterMode(display=False, custom_mapping=custom)
