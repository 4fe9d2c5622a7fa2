"""Data-parallel training over processes started by ``torchrun``: process group, rank helpers, batch statistics.

``torchrun --nproc_per_node=N -m shiftspike train ...`` starts N processes with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set;
:func:`process_group` joins them (``env://``) with the ``gloo`` backend, or
``cpu:gloo,cuda:nccl`` when CUDA is available (CUDA tensors go through NCCL,
CPU tensors through gloo). Without those variables, or with a world of one
process, every helper here is the single-process identity: rank 0 of 1, sums
over one rank, the plain batch statistics.

Every rank sees each global batch of ``train.batch_size`` samples and takes its
own disjoint part (:meth:`SequenceData.batches` with ``rank``/``world_size``);
gradients are averaged by :class:`~torch.nn.parallel.DistributedDataParallel`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed import _functional_collectives as funcol
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from .config import ConfigError

#: The variables ``torchrun`` sets for every process it starts (``LOCAL_RANK`` too).
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (all of :data:`LAUNCH_VARIABLES` are set)."""
    return all(name in os.environ for name in LAUNCH_VARIABLES)


def launch_rank() -> int:
    """The ``RANK`` ``torchrun`` gave this process; 0 without ``torchrun``. Valid outside :func:`process_group`."""
    return int(os.environ["RANK"]) if launched() else 0


def backend() -> str:
    """``"cpu:gloo,cuda:nccl"`` when CUDA is available, else ``"gloo"``."""
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


@contextmanager
def process_group() -> Iterator[None]:
    """Join ``torchrun``'s process group for the block and leave it afterwards.

    Does nothing without ``torchrun``'s variables, or when the caller already
    initialized a group (which it then keeps).
    """
    if not launched() or dist.is_initialized():
        yield
        return
    dist.init_process_group(backend())
    try:
        yield
        dist.barrier()  # no rank leaves while another still talks to it (gloo aborts such a rank at exit)
    finally:
        dist.destroy_process_group()


def active() -> bool:
    """Whether a process group of more than one process is initialized."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank in the active group; 0 without one."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Processes in the active group; 1 without one."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Whether this process is rank 0, the one that logs and writes files."""
    return rank() == 0


def check_global_batch(batch_size: int) -> None:
    """ConfigError unless the global ``batch_size`` splits evenly into one equal part per process."""
    world = world_size()
    if batch_size % world:
        raise ConfigError(f"train.batch_size {batch_size} is the global batch and must be divisible by the "
                          f"{world} processes (each takes batch_size / {world})")


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """Elementwise sum of ``values`` over all ranks (``values`` itself without a group).

    Differentiable: the gradient of each rank's input is the sum of all ranks'
    output gradients, as the global sum depends on every rank's part.
    """
    if not active():
        return values
    return funcol.wait_tensor(funcol.all_reduce(values, "sum", dist.group.WORLD))


def totals(*values: float) -> list[float]:
    """Plain numbers summed over ranks (float64; exact for integer counts below 2^53)."""
    return sum_over_ranks(torch.tensor(values, dtype=torch.float64)).tolist()


def gather(value: int) -> list[int]:
    """``value`` of every rank, in rank order (``[value]`` without a group)."""
    if not active():
        return [value]
    parts = [torch.zeros(1, dtype=torch.int64) for _ in range(world_size())]
    dist.all_gather(parts, torch.tensor([value], dtype=torch.int64))
    return [int(p) for p in parts]


def batch_moments(h: torch.Tensor, dims: list[int]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(mean, biased variance, count)`` of ``h`` over ``dims`` across the global batch.

    ``mean`` and ``var`` have ``h``'s shape without ``dims`` and its dtype;
    ``count`` is the number of elements reduced per entry, over all ranks.
    Without a group these are ``h.mean(dims)`` and ``h.var(dims, unbiased=False)``
    exactly. With one, two differentiable all-reduces in float64 (sums and
    count, then squared deviations from the global mean) give the statistics of
    the concatenated global batch, so gradients flow through the other ranks'
    samples as they do on one process.
    """
    count = math.prod(h.shape[i] for i in dims)
    if not active():
        return h.mean(dims), h.var(dims, unbiased=False), count
    sums = torch.cat([h.sum(dims).to(torch.float64).flatten(),
                      torch.tensor([float(count)], dtype=torch.float64, device=h.device)])
    sums = sum_over_ranks(sums)
    total = sums[-1]
    kept = [size for i, size in enumerate(h.shape) if i not in dims]
    mean = (sums[:-1] / total).to(h.dtype).view(kept)
    keep_dims = [1 if i in dims else size for i, size in enumerate(h.shape)]
    squares = sum_over_ranks((h - mean.view(keep_dims)).square().sum(dims).to(torch.float64))
    return mean, (squares / total).to(h.dtype), int(total.item())


class _Logits(nn.Module):
    """``net.logits(x)`` as a forward, so that DistributedDataParallel's forward hooks run."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.logits(x)


def _sync_batchnorm(net: nn.Module) -> None:
    """Replace ``net``'s ``nn.BatchNorm*`` submodules by ``nn.SyncBatchNorm`` (which runs on GPUs only)."""
    names = [name for name, m in net.named_modules() if isinstance(m, _BatchNorm)]
    if not names:
        return
    if not all(p.is_cuda for p in net.parameters()):
        raise ConfigError(f"model: BatchNorm module {names[0]} cannot be synchronized across processes on the "
                          f"CPU (torch.nn.SyncBatchNorm needs GPUs)")
    nn.SyncBatchNorm.convert_sync_batchnorm(net)


def data_parallel(net: nn.Module) -> nn.Module:
    """A module computing ``net.logits(x)`` (``[B, classes]``); wrapped in DistributedDataParallel in a group.

    Parameters stay ``net``'s own (save ``net.state_dict()``); DDP copies rank 0's
    parameters and buffers to every rank at construction and averages gradients.
    """
    step = _Logits(net)
    if not active():
        return step
    _sync_batchnorm(net)
    return DistributedDataParallel(step)


def reseed(seed: int) -> None:
    """In a group, seed this rank's global RNG (dropout masks) with ``seed * world_size + rank``.

    Ranks then draw independent masks, reproducibly per epoch; without a group
    the single process keeps its one RNG stream (nothing happens).
    """
    if active():
        torch.manual_seed(seed * world_size() + rank())
