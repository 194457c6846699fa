"""Data-parallel training over K processes with torch.distributed: who this process is, and how the K start.

Three launches end in the same process group:
- `scaling train --devices K` (or `training.devices: K` in a sweep): this process becomes rank 0 and starts ranks
  1..K-1 itself (spawned, rendezvous on a free local TCP port);
- `torchrun --nproc_per_node K -m scaling.cli train ...`: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
  MASTER_PORT come from the environment, and nothing is spawned;
- a SLURM job of K tasks through submitit: `submitit.helpers.TorchDistributedEnvironment().export()` sets the same
  variables (the sweep's slurm executor calls it in each task).

Each optimiser step every rank trains on a contiguous shard of the same global batch, and the gradients are
summed over ranks (`all_reduce`, as DDP does, in one flat buffer) after each rank back-propagated its shard's share
of the global loss (`scaling.train.losses.batch_loss` normalises by the global batch's label counts). The summed
gradient is the 1-process gradient up to float rounding, and every rank then takes the same optimiser step.
Backends: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from scaling.errors import InputError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = timedelta(minutes=10)  # a rank that never arrives (killed before the rendezvous) ends the others


@dataclass(frozen=True)
class World:
    """This process's place among the K that train one run (rank 0 writes every file)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_world() -> World | None:
    """The world torchrun or submitit's TorchDistributedEnvironment put in the environment; None when absent."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return World(rank, size, int(os.environ.get("LOCAL_RANK", rank)))


def shard(positions: np.ndarray, world: World) -> np.ndarray:
    """This rank's contiguous share of a global batch (shares differ in size by at most one; rank 0's largest)."""
    return np.array_split(positions, world.size)[world.rank]


def device_of(device: torch.device, world: World) -> torch.device:
    """One GPU per local rank on CUDA; the CPU is shared."""
    if device.type == "cuda" and world.distributed:
        index = world.local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def join(world: World, device: torch.device, init_method: str = "env://") -> None:
    """Enter the process group of `world` (NCCL on CUDA, gloo on CPU)."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=init_method, rank=world.rank, world_size=world.size,
                            timeout=TIMEOUT)


def barrier() -> None:
    dist.barrier()


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def check_launched(world: World, devices: int) -> None:
    if world.size != devices:
        raise InputError(f"train config: field devices={devices}: the launcher started {world.size} processes "
                         f"(WORLD_SIZE={world.size}); give devices={world.size} or launch {devices}")


def free_port() -> int:
    """A TCP port free on this host now (the rendezvous of locally spawned ranks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn_ranks(target, args: tuple, size: int) -> tuple[list, str]:
    """Start ranks 1..size-1 as spawned processes running `target(world, init_method, *args)`; returns them and the
    init method that rank 0 (the caller) joins with."""
    import multiprocessing

    init_method = f"tcp://127.0.0.1:{free_port()}"
    context = multiprocessing.get_context("spawn")
    processes = []
    for rank in range(1, size):
        process = context.Process(target=_rank_main, args=(target, World(rank, size, rank), init_method, os.getpid(),
                                                           *args), daemon=False)
        process.start()
        processes.append(process)
    return processes, init_method


def _rank_main(target, world: World, init_method: str, parent: int, *args) -> None:
    """A spawned rank: ends itself when its parent (rank 0) is gone, so a killed run leaves no orphan behind."""
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        target(world, init_method, *args)
    except Exception as error:  # rank 0 meets the same bad input or lost peer and reports it; one line here
        reason = (str(error).splitlines() or [""])[0][:300]
        print(f"scaling: rank {world.rank}: {type(error).__name__}: {reason}", file=sys.stderr)
        sys.exit(1)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def reap(processes: list, failed: bool) -> None:
    """Wait for spawned ranks (they finish with rank 0); terminate them when rank 0 failed."""
    for process in processes:
        if failed:
            process.terminate()
        process.join()


def sum_gradients(parameters) -> None:
    """Sum every gradient over the ranks in one flat buffer (a parameter without a gradient counts as zeros)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    for parameter, part in zip(parameters, torch.split(flat, [g.numel() for g in grads])):
        parameter.grad = part.view_as(parameter)


def sum_over_ranks(values: torch.Tensor, world: World) -> torch.Tensor:
    """`values` summed over the ranks (itself in a 1-process run)."""
    if world.distributed:
        values = values.clone()
        dist.all_reduce(values)
    return values
