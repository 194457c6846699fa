"""Side-by-side step timing for the training-throughput benchmarks: every model takes the same batches, one step
each in turn, so a load change on the machine hits all of them alike and the ratios stay honest."""

from __future__ import annotations

import time
from typing import Callable

import torch


def time_interleaved(models: dict, step: Callable, batches: list, steps: int, warmup: int,
                     device: torch.device) -> dict[str, float]:
    """Seconds of `steps` training steps per model (after `warmup` untimed ones), interleaved across the models;
    `step(model, batch)` runs one step (each model carries its own optimiser)."""
    for model in models.values():
        for index in range(warmup):
            step(model, batches[index % len(batches)])
    seconds = {name: 0.0 for name in models}
    for index in range(steps):
        batch = batches[index % len(batches)]
        for name, model in models.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            begin = time.perf_counter()
            step(model, batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[name] += time.perf_counter() - begin
    return seconds
