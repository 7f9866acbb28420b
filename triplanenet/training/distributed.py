"""Data parallelism for the training loop: joining ``torchrun``'s process group, rank 0's state, averaged gradients.

Launched by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the loop is data
parallel like DDP: every rank starts from rank 0's weights, gradients are averaged
with ``all_reduce`` after each backward pass and buffers (BatchNorm statistics) are
taken from rank 0, so all ranks keep identical weights. The backend is gloo on CPU
and nccl on CUDA.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Distributed:
    """This process's place in a data-parallel run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group ``torchrun`` describes in the environment (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shutdown_distributed() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_state(module: nn.Module, buffers_only: bool = False) -> None:
    """Copy rank 0's buffers (and parameters unless ``buffers_only``) to every rank, in place."""
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    with torch.no_grad():
        for tensor in tensors:
            dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[nn.Parameter], world: int) -> None:
    """Average gradients over ranks (parameters without a gradient count as zero)."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= world
