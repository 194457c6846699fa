"""Pick the width (and, when asked, the depth) whose parameter count is closest to a target.

Counts are exact: each candidate is built on PyTorch's meta device (shapes only, no memory, no init cost) and its
parameters are summed, so the count cannot drift from the real model.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from scaling.errors import InputError
from scaling.models.potential import ModelConfig, Potential

TOLERANCE = 0.05
DEPTH_CHOICES = (2, 3, 4, 5, 6)
MAX_WIDTH = 8192


def count_parameters(config: ModelConfig) -> int:
    """Exact number of trainable parameters of the model `config` describes."""
    with torch.device("meta"):
        return Potential(config).n_params


def _closest_width(base: ModelConfig, target: int) -> ModelConfig:
    """Binary search on width (the count grows monotonically with it), then the closer of the two neighbours."""
    low, high = 1, MAX_WIDTH
    while low < high:
        mid = (low + high) // 2
        if count_parameters(replace(base, width=mid)) < target:
            low = mid + 1
        else:
            high = mid
    candidates = [replace(base, width=w) for w in {max(low - 1, 1), low}]
    return min(candidates, key=lambda c: abs(count_parameters(c) - target))


def size_model(
    target: int, base: ModelConfig, fit_depth: bool = False, aspect: float = 32.0
) -> tuple[ModelConfig, int]:
    """(config, exact count) with the width chosen to hit `target` parameters.

    With fit_depth, each depth in DEPTH_CHOICES gets its best width and the depth whose width/depth ratio is closest
    to `aspect` (on a log scale) wins, among those within TOLERANCE of the target. Raises InputError when no
    candidate lands within TOLERANCE (a target too small for the element count and radial network).
    """
    if target <= 0:
        raise InputError(f"params={target}: the target parameter count must be positive")
    depths = DEPTH_CHOICES if fit_depth else (base.depth,)
    fits = []
    for depth in depths:
        config = _closest_width(replace(base, depth=depth), target)
        count = count_parameters(config)
        if abs(count - target) <= TOLERANCE * target:
            fits.append((abs(math.log(config.width / (depth * aspect))), config, count))
    if not fits:
        smallest = count_parameters(replace(base, width=1, depth=min(depths)))
        raise InputError(
            f"params={target}: no width/depth reaches {target} parameters within {TOLERANCE:.0%} (smallest model has {smallest})"
        )
    _, config, count = min(fits, key=lambda fit: fit[0])
    return config, count
