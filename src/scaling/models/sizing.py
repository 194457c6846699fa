"""Pick the width (and, when asked, the depth) whose parameter count is closest to a target.

Counts are exact: each candidate is built, on PyTorch's meta device where the architecture allows it (shapes only,
no memory, no init cost; e3nn-based models such as MACE copy constants and are built on the CPU instead), and its
parameters are summed, so the count cannot drift from the real model. The width is found by doubling, then
bisection, so no candidate much larger than the target is ever built.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import torch

from scaling.errors import InputError
from scaling.models.potential import ModelConfig, Potential

TOLERANCE = 0.05
DEPTH_CHOICES = (2, 3, 4, 5, 6)
MAX_WIDTH = 8192


_COUNTS: dict[str, int] = {}
_NO_META: set[str] = set()


def count_parameters(config: ModelConfig) -> int:
    """Exact number of trainable parameters of the model `config` describes (cached per config)."""
    key = json.dumps(config.to_dict(), sort_keys=True)
    if key not in _COUNTS:
        if config.arch not in _NO_META:
            try:
                with torch.device("meta"):
                    _COUNTS[key] = Potential(config).n_params
            except Exception:  # e.g. e3nn copies constants into its modules; build on the CPU instead
                _NO_META.add(config.arch)
        if key not in _COUNTS:
            _COUNTS[key] = Potential(config).n_params
    return _COUNTS[key]


def _closest_width(base: ModelConfig, target: int) -> ModelConfig:
    """The smallest width whose count reaches the target, or the one below it, whichever is closer.

    A first guess comes from a quadratic through the counts at widths 1, 2 and 4 (exact for MACE-like models, close
    for the in-house ones) and is accepted only when counts at the guess and the width below it bracket the target,
    so the result is the same as plain search; otherwise the width is doubled until the count reaches the target
    and bisected (the count grows with width). Either way no candidate much larger than the target is built.
    """
    def count(width: int) -> int:
        return count_parameters(replace(base, width=width))

    low, high = 1, None
    probes = [1, 2, 4]
    coefficients = np.polyfit(probes, [count(w) for w in probes], 2)
    roots = [r.real for r in np.roots(coefficients - [0, 0, target]) if abs(r.imag) < 1e-9 and r.real > 0]
    if roots:
        guess = min(max(math.ceil(min(roots)), 1), MAX_WIDTH)
        if count(guess) >= target and (guess == 1 or count(guess - 1) < target):
            low = high = guess
    if high is None:
        high = 1
        while high < MAX_WIDTH and count(high) < target:
            high *= 2
        low = high // 2 + 1 if high > 1 else 1
    while low < high:
        mid = (low + high) // 2
        if count(mid) < target:
            low = mid + 1
        else:
            high = mid
    candidates = [replace(base, width=w) for w in sorted({max(low - 1, 1), low})]
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
    if fit_depth and "depth" not in base.options:
        raise InputError(f"fit_depth: arch {base.arch!r} has no `depth` option to choose")
    depths = DEPTH_CHOICES if fit_depth else (base.depth,)
    fits = []
    for depth in depths:
        config = _closest_width(base.with_options(depth=depth) if fit_depth else base, target)
        count = count_parameters(config)
        if abs(count - target) <= TOLERANCE * target:
            fits.append((abs(math.log(config.width / ((depth or 1) * aspect))), config, count))
    if not fits:
        smallest_base = base.with_options(depth=min(depths)) if fit_depth else base
        smallest = count_parameters(replace(smallest_base, width=1))
        raise InputError(
            f"params={target}: no width/depth reaches {target} parameters within {TOLERANCE:.0%} (smallest model has {smallest})"
        )
    _, config, count = min(fits, key=lambda fit: fit[0])
    return config, count
