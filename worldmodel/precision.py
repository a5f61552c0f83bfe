"""Whether to compute in bf16: only where the device multiplies bf16 natively.

bf16 autocast and bf16 weights pay off only on hardware with bf16 arithmetic: CUDA GPUs
from Ampere on, and CPUs with AVX512 (oneDNN's bf16 kernels; AVX512-BF16 or AMX for full
speed). Elsewhere oneDNN emulates them: on an AVX2-only CPU a 4800 x 512 x 512 bf16 matrix
product took 2.0 s against 25 ms in fp32 (docs/benchmarks.md). So every ``bf16`` setting
is ``null`` (auto) by default, resolved here once per run.
"""

from __future__ import annotations

import functools
import warnings

import torch


@functools.cache
def bf16_native(device_type: str) -> bool:
    """Whether ``device_type`` (``"cpu"``, ``"cuda"``) has bf16 arithmetic kernels."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        mkldnn = torch.ops.mkldnn
        return (torch.backends.mkldnn.is_available()
                and hasattr(mkldnn, "_is_mkldnn_bf16_supported")
                and bool(mkldnn._is_mkldnn_bf16_supported()))
    return False


def resolve_bf16(setting: bool | None, device: torch.device | str, key: str = "bf16") -> bool:
    """A ``bf16`` setting -> whether to use bf16 on ``device``.

    ``None`` (auto): where the device has native bf16 kernels. ``True`` is obeyed, with a
    warning that names ``key`` when the device would only emulate bf16 (many times slower
    than fp32); ``False`` keeps fp32."""
    device_type = torch.device(device).type
    if setting is None:
        return bf16_native(device_type)
    if setting and not bf16_native(device_type):
        warnings.warn(f"{key}=true on a {device_type} without native bf16 kernels: bf16 is "
                      f"emulated there, many times slower than fp32. Set {key}=null (auto) "
                      f"or {key}=false.", RuntimeWarning, stacklevel=2)
    return bool(setting)
