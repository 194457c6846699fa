"""A fit as one entry of the `scaling fit` JSON (DESIGN.md schema), and RMSLE on held-out points."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scaling.analysis.fitting import FitResult
from scaling.analysis.table import Curve
from scaling.analysis.uncertainty import BootstrapResult, t_975


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and inf become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def rmsle(result: FitResult, x: np.ndarray, y: np.ndarray) -> float | None:
    """sqrt(mean((ln y_fit - ln y)^2)) at the given points (None without points)."""
    if len(y) == 0:
        return None
    with np.errstate(all="ignore"):
        log_fit = result.law.log_evaluate(np.asarray(x, dtype=float), result.theta)
    return _finite(np.sqrt(np.mean((log_fit - np.log(y)) ** 2)))


def asymptotic_break_intervals(result: FitResult) -> list[list[float | None]]:
    """95% break intervals without a bootstrap: ln d +- t_{n-k} * stderr(d)/d (the delta method, in log space)."""
    out = []
    t = t_975(result.n_points - result.k) if result.n_points > result.k else float("inf")
    for i, d in enumerate(result.breaks):
        se = result.stderr.get(f"d{i + 1}")
        if se is None or not math.isfinite(t):
            out.append([None, None])
            continue
        half = t * se / d
        out.append([_finite(d * math.exp(-half)), _finite(d * math.exp(half))])
    return out


def fit_record(
    curve: Curve,
    result: FitResult,
    boot: BootstrapResult | None = None,
    holdout_rmsle: float | None = None,
) -> dict[str, Any]:
    """One entry of the `fits` list: group, law, fixed (parameters held at a value), params, stderr, exponents,
    breaks, breaks_ci95, aicc, bic, rmsle, holdout_rmsle, n_points. breaks_ci95 come from the bootstrap when there
    is one, else from the delta method."""
    if boot is not None:
        breaks_ci95 = [[_finite(lo), _finite(hi)] for lo, hi in boot.breaks_ci95]
    else:
        breaks_ci95 = asymptotic_break_intervals(result)
    return {
        "group": dict(curve.group),
        "law": result.law.name,
        "fixed": {k: _finite(v) for k, v in result.params.items()
                  if k in result.law.param_names and k not in result.free_names},
        "params": {k: _finite(v) for k, v in result.params.items()},
        "stderr": {k: _finite(v) for k, v in result.stderr.items()},
        "exponents": [_finite(e) for e in result.exponents],
        "breaks": [_finite(b) for b in result.breaks],
        "breaks_ci95": breaks_ci95,
        "aicc": _finite(result.aicc),
        "bic": _finite(result.bic),
        "rmsle": _finite(result.rmsle),
        "holdout_rmsle": _finite(holdout_rmsle),
        "n_points": int(result.n_points),
    }
