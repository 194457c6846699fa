"""The JSON of `scaling fit` and `scaling fit2d`, built in one place: the document (kind, table, columns, filter,
settings, rows left out, fits), the fields every fit entry shares, one rule for JSON-safe numbers and one rule for
intervals from standard errors.

Interval rule: a 95% interval from a standard error uses Student's t with n - k degrees of freedom (n fitted points,
k free parameters), symmetric in log space for positive scales: ln v +- t_{0.975, n-k} se(v)/v. The standard errors
are curve_fit-style, i.e. scaled by the residual variance estimated from the same n - k degrees of freedom, so t is
the quantile that matches them (z = 1.96 would claim 95% and cover less on 7-point curves: t_{0.975,4} = 2.78);
the bootstrap intervals are widened by t/1.96 for the same reason (docs/analysis.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scaling.analysis.fitting import FitResult
from scaling.analysis.table import Curve
from scaling.analysis.uncertainty import BootstrapResult, t_975

RELATIVE_SE_BOUND = 1.0  # a free parameter whose standard error exceeds its own size is not identified by the data


def finite(value: Any) -> Any:
    """JSON-safe: NaN and inf become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def quantile_975(n_points: int, k: int) -> float:
    """The 97.5% quantile used for intervals from standard errors: t with n - k dof (inf where n <= k)."""
    return t_975(n_points - k) if n_points > k else float("inf")


def log_interval(value: float, stderr: float | None, n_points: int, k: int) -> list[float | None]:
    """95% interval of a positive scale from its standard error: ln v +- t_{0.975, n-k} se/v."""
    q = quantile_975(n_points, k)
    if stderr is None or not math.isfinite(stderr) or not math.isfinite(q) or not value > 0:
        return [None, None]
    half = q * stderr / value
    return [finite(value * math.exp(-half)), finite(value * math.exp(half))]


def unidentified(result: FitResult) -> list[str]:
    """Free parameters the data cannot identify: no standard error (the Jacobian is rank-deficient: the
    covariance is singular) or a standard error above RELATIVE_SE_BOUND times the parameter's size."""
    out = []
    for name in result.free_names:
        se, value = result.stderr.get(name), result.params.get(name)
        if se is None or not math.isfinite(se) or se > RELATIVE_SE_BOUND * abs(value):
            out.append(name)
    return out


def rmsle(result: FitResult, x: np.ndarray, y: np.ndarray) -> float | None:
    """sqrt(mean((ln y_fit - ln y)^2)) at the given points (None without points)."""
    if len(y) == 0:
        return None
    with np.errstate(all="ignore"):
        log_fit = result.law.log_evaluate(np.asarray(x, dtype=float), result.theta)
    return finite(np.sqrt(np.mean((log_fit - np.log(y)) ** 2)))


def common_fields(curve: Curve, result: FitResult, exponents: Any, breaks: list[float],
                  breaks_ci95: list[list[float | None]]) -> dict[str, Any]:
    """The fields every fit entry has, in order: group, law, params, stderr, unidentified, exponents, breaks,
    breaks_ci95, aicc, bic, rmsle, holdout_rmsle (None), n_points."""
    return {
        "group": dict(curve.group),
        "law": result.law.name,
        "params": {k: finite(v) for k, v in result.params.items()},
        "stderr": {k: finite(v) for k, v in result.stderr.items()},
        "unidentified": unidentified(result),
        "exponents": exponents,
        "breaks": [finite(b) for b in breaks],
        "breaks_ci95": breaks_ci95,
        "aicc": finite(result.aicc),
        "bic": finite(result.bic),
        "rmsle": finite(result.rmsle),
        "holdout_rmsle": None,
        "n_points": int(result.n_points),
    }


def fit_record(
    curve: Curve,
    result: FitResult,
    boot: BootstrapResult | None = None,
    holdout_rmsle: float | None = None,
) -> dict[str, Any]:
    """One entry of the one-axis `fits` list: the common fields plus `fixed` (parameters held at a value),
    `exponents_ci95` and `bootstrap_method` (bootstrap, else None), `holdout_score` and `holdout_origins` (the
    rolling-origin extrapolation RMSLE and its number of origins, set by `--select`), with breaks_ci95 from the
    bootstrap when there is one, else by the interval rule."""
    if boot is not None:
        breaks_ci95 = [[finite(lo), finite(hi)] for lo, hi in boot.breaks_ci95]
    else:
        breaks_ci95 = [log_interval(d, result.stderr.get(f"d{i + 1}"), result.n_points, result.k)
                       for i, d in enumerate(result.breaks)]
    entry = common_fields(curve, result, [finite(e) for e in result.exponents], result.breaks, breaks_ci95)
    entry["fixed"] = {k: finite(v) for k, v in result.params.items()
                      if k in result.law.param_names and k not in result.free_names}
    entry["holdout_rmsle"] = finite(holdout_rmsle)
    entry["exponents_ci95"] = ([[finite(lo), finite(hi)] for lo, hi in boot.exponents_ci95]
                               if boot is not None else None)
    entry["bootstrap_method"] = boot.method if boot is not None else None
    entry["holdout_score"] = None
    entry["holdout_origins"] = None
    return entry


def document(kind: str, table: str, columns: dict[str, Any], where: str | None, settings: dict[str, Any],
             left_out: dict[str, int], fits: list[dict]) -> dict[str, Any]:
    """The whole JSON document: what was fitted (kind "fit1d" or "fit2d", the table path as given, the columns, the
    filter, the settings, the rows left out by status) and the fits. `scaling plot` reads the columns from here."""
    return {"kind": kind, "table": table, "columns": columns, "where": where, "settings": settings,
            "left_out": {"status": dict(left_out)}, "fits": fits}
