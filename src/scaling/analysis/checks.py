"""The one check of a curve's points before a fit (one-axis and two-axis pipelines alike): every error names the
file, the group, the column and the value."""

from __future__ import annotations

import numpy as np

from scaling.analysis.table import Curve
from scaling.errors import InputError


def check_curve(path: str, curve: Curve, x_names: list[str], y: str, space: str, weights: str,
                distinct_x: bool = False) -> None:
    """Positive x (each column of x_names), positive y in log space, seed-std weights only where every point has
    >= 2 seeds with a spread, and (distinct_x) more than one x value. Values are finite already (`numeric_column`)."""
    where = f"{path}: {curve.label}"
    xs = curve.x.reshape(len(curve.x), -1)
    if distinct_x and len(curve.x) < 2:
        raise InputError(f"{where}: a single {x_names[0]} value ({float(xs[0, 0]):g}); a law needs several")
    for j, name in enumerate(x_names):
        if np.any(xs[:, j] <= 0):
            raise InputError(f"{where}: column {name!r}: value {float(xs[:, j].min()):g} is not positive")
    if space == "log" and np.any(curve.y <= 0):
        raise InputError(f"{where}: column {y!r}: value {float(np.min(curve.y)):g} is not positive (--space log)")
    if weights == "seed-std":
        bad = np.flatnonzero((curve.n_seeds < 2) | (curve.y_std <= 0))
        if bad.size:
            i = bad[0]
            point = ", ".join(f"{name}={xs[i, j]:g}" for j, name in enumerate(x_names))
            raise InputError(f"{where}: --weights seed-std needs >= 2 seeds with spread at every point; {point} has "
                             f"{int(curve.n_seeds[i])} seed(s), std {curve.y_std[i]:g} (use --weights none)")
