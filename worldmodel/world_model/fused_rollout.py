"""The residual MLP predictor's planning rollout with each layer one oneDNN call.

A plan spends nearly all its time rolling ``MLPPredictor`` forward: per step a layer norm,
a matmul, GELU, a matmul and the residual add, on a few hundred rows. At that size every
separate pass over the activations counts. oneDNN, which PyTorch's CPU build already
carries, runs a matmul with its elementwise follow-up fused into the same kernel
(``torch.ops.mkldnn._linear_pointwise``, the op the CPU backend of ``torch.compile`` emits
for the same fusion): GELU rides on the hidden layers' matmul (and in fp32 the residual add
on the last one's), and weights are packed once into oneDNN's blocked layout instead of on
every call. Measured on a 2-core AMD EPYC (Zen 5), 300 candidates: a hidden layer 84
against 108 us in bf16 and 134 against 257 us in fp32 (docs/benchmarks.md has the plans).

Planning only: the weights are packed when the rollout is built (a frozen predictor), no
autograd, CPU only. ``LearnedWorldModel`` takes this path when it applies and the plain one
otherwise (gradient planners, CUDA, a CPU without oneDNN's bf16 kernels).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from worldmodel.precision import bf16_native, pack_int8_linear

from .predictors import MLPPredictor


@functools.cache
def fused_ops_available(dtype: torch.dtype = torch.float32) -> bool:
    """Whether this PyTorch build and CPU run oneDNN's fused linear ops in ``dtype``.

    Checked once by running them on a tiny input against the plain ops: a build may register
    the ops without supporting every post-op (GELU, the residual add) on every CPU."""
    mkldnn = torch.ops.mkldnn
    if not (torch.backends.mkldnn.is_available() and hasattr(mkldnn, "_linear_pointwise")
            and hasattr(mkldnn, "_reorder_linear_weight")):
        return False
    if dtype == torch.bfloat16:  # without native bf16 kernels oneDNN would emulate them
        if not bf16_native("cpu"):
            return False
    elif dtype != torch.float32:
        return False
    gen = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(shape, generator=gen).to(dtype) for shape in ((4, 16), (8, 16), (8,)))
    try:
        packed = mkldnn._reorder_linear_weight(w)
        gelu = mkldnn._linear_pointwise(x, packed, b, "gelu", [], "none")
        added = mkldnn._linear_pointwise.binary(x, gelu, packed, b, "add")
    except RuntimeError:
        return False
    pre = F.linear(x.float(), w.float(), b.float())
    tol = 0.05 if dtype == torch.bfloat16 else 1e-4
    return (torch.allclose(gelu.float(), F.gelu(pre), atol=tol, rtol=tol)
            and torch.allclose(added.float(), F.gelu(pre) + pre, atol=2 * tol, rtol=2 * tol))


class FusedMLPRollout:
    """``MLPPredictor.rollout`` for planning on CPU, in the predictor's weight dtype.

    The layer norm's scale and shift are folded into the first layer's weights (in fp32,
    then cast), so each step normalises with no affine pass of its own.

    With ``int8`` the hidden-to-hidden layers (a 512-wide MLP's 512 x 512 product: 80% of
    the rollout's arithmetic) run as int8 products with dynamically quantized inputs
    (``worldmodel.precision.pack_int8_linear``); the first layer, which reads the state,
    and the last, which writes its update, stay in the weights' dtype.
    """

    def __init__(self, predictor: MLPPredictor, int8: bool = False) -> None:
        linears = [m for m in predictor.net if isinstance(m, torch.nn.Linear)]
        D = predictor.latent_dim
        first = linears[0]
        dtype = first.weight.dtype
        with torch.no_grad():
            w = first.weight.float().clone()  # [hidden, D + A + Z]
            bias = first.bias.float() + w[:, :D] @ predictor.norm.bias.float()
            w[:, :D] *= predictor.norm.weight.float()
            weights = [w.to(dtype)] + [m.weight.detach() for m in linears[1:]]
            self.biases = [bias.to(dtype)] + [m.bias.detach() for m in linears[1:]]
            pack = torch.ops.mkldnn._reorder_linear_weight
            self.weights = [pack(w_.contiguous()) for w_ in weights]
            self.hidden_int8 = ([pack_int8_linear(m.weight, m.bias) for m in linears[1:-1]]
                                if int8 else None)
        self.latent_dim, self.eps, self.dtype = D, predictor.norm.eps, dtype
        self.with_z = predictor.with_z

    def __call__(self, state: torch.Tensor, actions: torch.Tensor,
                 z: torch.Tensor | None = None) -> torch.Tensor:
        """state [B, D], actions [B, H, A], z [B, H, Z] or None -> states [B, H, D] (fp32)."""
        linear = torch.ops.mkldnn._linear_pointwise
        D, H = self.latent_dim, actions.shape[1]
        actions = self.with_z(actions, z).to(self.dtype)
        # The state carried from step to step stays fp32 and only the layers run in the
        # weights' dtype: a bf16 state rounds away most of each step's small update (max
        # error over 16 steps 0.074 against 0.009 with an fp32 state, measured; 3% slower).
        state = state.float()
        # Time-major buffer of first-layer inputs [LN(s_t), a_t, z_t]: the actions go in
        # once, and each step writes its normalised state beside them.
        inputs = actions.new_empty(H, state.shape[0], D + actions.shape[-1])
        inputs[:, :, D:] = actions.transpose(0, 1)
        states = state.new_empty(H, state.shape[0], D)  # time-major: aligned writes
        for t in range(H):
            inputs[t, :, :D] = F.layer_norm(state, (D,), eps=self.eps)
            h = linear(inputs[t], self.weights[0], self.biases[0], "gelu", [], "none")
            if self.hidden_int8 is not None:
                for packed in self.hidden_int8:  # reduce_range: 7-bit inputs, as AVX2 needs
                    h = F.gelu(torch.ops.quantized.linear_dynamic(h, packed, True))
            else:
                for w, b in zip(self.weights[1:-1], self.biases[1:-1], strict=True):
                    h = linear(h, w, b, "gelu", [], "none")
            if self.dtype == torch.float32:
                state = linear.binary(h, state, self.weights[-1], self.biases[-1], "add")
                states[t] = state
            else:
                step = linear(h, self.weights[-1], self.biases[-1], "none", [], "")
                state = torch.add(state, step, out=states[t])
        return states.transpose(0, 1)
