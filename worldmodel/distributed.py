"""Data-parallel training under torchrun with no code change: gloo on CPU, NCCL on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Processes:
    """This process's place: rank, world size and device."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> Processes:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu" if device == "auto" else device)
    return Processes(rank, world, dev)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_finite(value: torch.Tensor) -> bool:
    """Whether ``value`` is finite on every process (so all stop together)."""
    ok = torch.isfinite(value.detach()).all().float().reshape(1)
    if dist.is_initialized():
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    return bool(ok.item())


def global_max(value: float) -> float:
    """The largest ``value`` over all processes (e.g. elapsed time: all stop together)."""
    if not dist.is_initialized():
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


class _GatherBatch(torch.autograd.Function):
    """all_gather forward; backward sums every process's gradient of the whole batch and
    keeps this process's slice (an all_reduce on a contiguous tensor, which gloo handles)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


def gather_batch(x: torch.Tensor) -> torch.Tensor:
    """Every process's ``x`` [B, ...] concatenated -> [world*B, ...], differentiable.

    Batch statistics (VICReg's variance and covariance) must see the global batch for N
    processes to train as one: the backward pass sums each copy's gradient back to its
    owner, and DDP's averaging then gives exactly the single-process gradient.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    return _GatherBatch.apply(x)
