"""Measured compute of one training run: FLOPs of a training step, total training FLOPs, device-seconds, peak memory.

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` while a few batches of the run's own training
data go through the whole step (forward, forces by autograd with create_graph, loss, backward) on a copy of the
model, with the RNG state saved and restored, so the probe never touches the run's trajectory. The counter has
formulas for matrix products (mm, addmm, bmm and so einsum, convolutions, attention): the convention of the
scaling literature (6ND). Elementwise ops, gathers and scatters have none; the ops a step used without a formula
are listed in result.json (`flops_uncounted_ops`). FLOPs depend on shapes only, so the probe runs once, at the
start of the run, and travels in the checkpoint.

Peak memory is this process's resident-set high-water mark (reset when the run starts, via /proc/self/clear_refs,
so a worker that trains cell after cell reports each cell's own peak) and, on CUDA, torch's max allocated.
"""

from __future__ import annotations

import copy
import math
import resource
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

PROBE_BATCHES = 3
# Ops that move or allocate data but compute nothing: not worth listing as "uncounted".
_NO_ARITHMETIC = {
    "_to_copy", "_unsafe_view", "alias", "arange", "as_strided", "cat", "clone", "copy_", "detach", "empty",
    "empty_like", "empty_strided", "expand", "fill_", "full", "full_like", "index", "index_select", "lift_fresh",
    "lift_fresh_copy", "new_empty", "new_empty_strided", "new_full", "new_ones", "new_zeros", "nonzero", "ones",
    "ones_like", "permute", "repeat", "repeat_interleave", "scalar_tensor", "select", "slice", "split",
    "split_with_sizes", "squeeze", "stack", "t", "transpose", "unbind", "unsqueeze", "view", "zero_", "zeros",
    "zeros_like", "_local_scalar_dense", "gather", "where", "masked_fill", "masked_fill_", "argsort", "sort",
    "bincount", "embedding", "index_put", "index_put_", "select_backward", "slice_backward", "eq", "ne", "gt", "ge",
    "lt", "le", "any", "all", "logical_and", "logical_and_", "logical_or", "logical_not",
}


class _OpsSeen(TorchDispatchMode):
    """Records every aten op that runs (to name those the FLOP counter has no formula for)."""

    def __init__(self):
        super().__init__()
        self.ops: set = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(func.overloadpacket)
        return func(*args, **(kwargs or {}))


def count_flops(work: Callable[[], None]) -> tuple[int, list[str]]:
    """(FLOPs of the ops with a formula, names of the arithmetic ops without one) of running `work()`."""
    with FlopCounterMode(display=False) as counter, _OpsSeen() as seen:
        work()
    uncounted = sorted(
        {op.__name__ for op in seen.ops if op not in flop_registry} - _NO_ARITHMETIC
    )
    return int(counter.get_total_flops()), uncounted


def step_flops(model: torch.nn.Module, batches: list, weights, device: torch.device) -> dict:
    """FLOPs of one training step (forward, forces, loss, backward; not the optimiser's elementwise update), per
    step (mean over `batches`) and per structure; measured on a copy of `model`, RNG state untouched."""
    from scaling.train.checkpoint import restore_rng_state, rng_state
    from scaling.train.data import to_device
    from scaling.train.losses import batch_loss

    saved = rng_state()
    probe = copy.deepcopy(model)
    probe.train()
    total, structures, uncounted = 0, 0, set()
    try:
        for batch in batches:
            batch = to_device(batch, device)
            stress = weights.stress > 0 and bool(batch.has_stress.any())

            def work() -> None:
                prediction = probe(batch, forces=True, stress=stress, create_graph=True)
                batch_loss(prediction, batch, weights)[0].backward()

            flops, names = count_flops(work)
            total, structures = total + flops, structures + int(batch.num_graphs)
            uncounted.update(names)
    finally:
        restore_rng_state(saved)
    return {
        "flops_per_step": total / len(batches),
        "flops_per_structure": total / structures,
        "probe_structures": structures,
        "uncounted_ops": sorted(uncounted),
    }


def probe_positions(n_train: int, batch_size: int, n_batches: int = PROBE_BATCHES) -> list[range]:
    """The first full batches of the training set (all of it when it is smaller than one batch): no randomness."""
    full = max(n_train // batch_size, 1)
    return [range(k * batch_size, min((k + 1) * batch_size, n_train)) for k in range(min(n_batches, full))]


def structures_seen(steps: int, train_size: int, batch_size: int, epoch_steps: int | None = None) -> int:
    """Structures that `steps` optimiser steps went through (epochs of ceil(D/B) batches, the last one short; with
    `epoch_steps`, full batches drawn from an endless stream of passes)."""
    if epoch_steps:
        return steps * batch_size
    per_epoch = math.ceil(train_size / batch_size)
    epochs, rest = divmod(steps, per_epoch)
    return epochs * train_size + min(rest * batch_size, train_size)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new high-water mark for this process's RSS (Linux) and, on CUDA, for torch's allocations."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass  # then the peak is the process's lifetime peak (an upper bound)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (e.g. VmHWM, VmRSS) in MB; None where the file is absent (not Linux)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """The process's resident-set high-water mark in MB (VmHWM, else getrusage's ru_maxrss)."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def current_rss_mb() -> float:
    """The process's resident set now, in MB (0 where /proc is absent)."""
    return _status_mb("VmRSS") or 0.0


def peak_cuda_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


class ComputeMeter:
    """The compute record of one run: the FLOP probe and the memory peaks, kept across resumes in the checkpoint."""

    def __init__(self, device: torch.device):
        self.device = device
        self.flops: dict | None = None
        self.saved_rss_mb, self.saved_cuda_mb = 0.0, None
        reset_peak_memory(device)

    def probe(self, run) -> None:
        """Count the FLOPs of a training step on the run's first training batches."""
        positions = probe_positions(len(run.data.train), run.config.batch_size)
        batches = [run.data.train.batch(p) for p in positions]
        self.flops = step_flops(run.model, batches, run.weights, self.device)

    def peaks(self) -> tuple[float, float | None]:
        rss = max(self.saved_rss_mb, peak_rss_mb())
        cuda = peak_cuda_mb(self.device)
        if self.saved_cuda_mb is not None:
            cuda = max(cuda or 0.0, self.saved_cuda_mb)
        return rss, cuda

    def state(self) -> dict:
        rss, cuda = self.peaks()
        return {"flops": self.flops, "peak_rss_mb": rss, "peak_cuda_mb": cuda}

    def restore(self, state: dict | None, run) -> None:
        """From a checkpoint; a checkpoint without a record (older runs) gets a fresh probe (same shapes, same count)."""
        state = state or {}
        self.flops = state.get("flops")
        self.saved_rss_mb, self.saved_cuda_mb = state.get("peak_rss_mb", 0.0), state.get("peak_cuda_mb")
        if self.flops is None:
            self.probe(run)

    def result(self, run) -> dict:
        """result.json's compute fields (units in the names; FLOPs as counted by FlopCounterMode)."""
        progress = run.progress
        seen = structures_seen(progress.step, len(run.data.train), run.config.batch_size, run.config.epoch_steps)
        per_structure = self.flops["flops_per_structure"] if self.flops else None
        rss, cuda = self.peaks()
        return {
            "flops_per_step": self.flops["flops_per_step"] if self.flops else None,
            "flops_per_structure": per_structure,
            "structures_seen": seen,
            "train_flops": None if per_structure is None else per_structure * seen,
            "device_seconds": progress.train_seconds if self.device.type == "cuda" else progress.cpu_seconds,
            "peak_rss_mb": rss,
            "peak_cuda_mb": cuda,
            "flops_uncounted_ops": self.flops["uncounted_ops"] if self.flops else None,
        }
