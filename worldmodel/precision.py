"""Arithmetic precision by hardware: bf16 only where the device multiplies it natively,
int8 planning layers on CPUs where it does not.

bf16 autocast and bf16 weights pay off only on hardware with bf16 arithmetic: CUDA GPUs
from Ampere on, and CPUs with AVX512 (oneDNN's bf16 kernels; AVX512-BF16 or AMX for full
speed). Elsewhere oneDNN emulates them: on an AVX2-only CPU a 4800 x 512 x 512 bf16 matrix
product took 2.0 s against 25 ms in fp32 (docs/benchmarks.md). So every ``bf16`` setting
is ``null`` (auto) by default, resolved here once per run. Where bf16 is not native, the
planning rollout's hidden layers can run as int8 products instead (``resolve_int8``).
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


@functools.cache
def int8_linear_available() -> bool:
    """Whether this PyTorch build runs dynamically quantized int8 linear layers on the CPU
    (the x86 or fbgemm engine), checked once on a tiny input."""
    if not {"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines):
        return False
    try:
        packed = pack_int8_linear(torch.ones(4, 8), torch.zeros(4))
        out = torch.ops.quantized.linear_dynamic(torch.ones(2, 8), packed, True)
    except (RuntimeError, AttributeError):  # a build (or a later PyTorch) without them
        return False
    return bool(torch.allclose(out, torch.full((2, 4), 8.0), rtol=0.05))


def pack_int8_linear(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A linear layer's fp32 weight [out, in] and bias [out] -> its packed int8 form for
    ``torch.ops.quantized.linear_dynamic``: symmetric int8 per output channel (each row's
    largest magnitude maps to 127), the bias kept fp32."""
    weight = weight.detach().float()
    scale = (weight.abs().amax(1) / 127).clamp_min(1e-12)
    with warnings.catch_warnings():
        # quantized tensors are deprecated in PyTorch 2.13; int8_linear_available turns
        # int8 off in a release that drops them
        warnings.simplefilter("ignore", UserWarning)
        q = torch.quantize_per_channel(weight, scale.double(),
                                       torch.zeros_like(scale, dtype=torch.long), 0,
                                       torch.qint8)
    return torch.ops.quantized.linear_prepack(q, bias.detach().float())


def resolve_int8(setting: bool | None, bf16: bool, device: torch.device | str,
                 key: str = "world_model.int8") -> bool:
    """An ``int8`` setting (int8 hidden layers while planning) -> whether to use it.

    ``None`` (auto): on a CPU that runs int8 linear layers and has no native bf16, where the
    hidden layers are the plan's arithmetic and int8 runs them 1.4x faster than fp32 on AVX2
    (docs/benchmarks.md). ``True`` where it cannot run, or beside bf16 (the int8 layers
    take fp32 inputs), is an error naming the key."""
    device_type = torch.device(device).type
    if setting is None:
        return device_type == "cpu" and not bf16 and int8_linear_available()
    if setting:
        if device_type != "cpu" or not int8_linear_available():
            raise ValueError(f"{key}=true needs a CPU and a PyTorch build with int8 linear "
                             f"layers (the x86 or fbgemm engine); this is a {device_type} "
                             f"with engines {torch.backends.quantized.supported_engines}. "
                             f"Set {key}=false or null.")
        if bf16:
            raise ValueError(f"{key}=true beside bf16: the int8 layers take fp32 inputs. Set "
                             f"the bf16 setting to false, or {key}=false.")
    return bool(setting)
