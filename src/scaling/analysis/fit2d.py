"""Two-axis fits L(N, D) on the shared engine: one JSON entry per group with the fit, its bootstrap intervals and
the derived quantities (crossover line, local exponents, exponent per N, compute-optimal frontier).

Tables are read and seeds collected by `scaling.analysis.table` (rows sharing group, N and D are seeds), fitted by
`scaling.analysis.fitting.fit` and bootstrapped by `scaling.analysis.uncertainty.bootstrap`; nothing here fits on its
own. For `chinchilla` with `--loss huber` this is Hoffmann et al.'s recipe: the law's log form
`LSE(log A - alpha log N, log B - beta log D, log E)`, with E, A, B moving in log space, Huber loss on ln L summed
over points, from Hoffmann's grid of 4,500 starts (the engine ranks them and refines the best with its batched
Levenberg-Marquardt/IRLS solver, which reaches the same minimum as L-BFGS-B from all 4,500; see tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from scaling.analysis import derived
from scaling.analysis.fitting import FitResult, fit
from scaling.analysis.laws import get_law
from scaling.analysis.laws2d import LAWS_2D, Law2D
from scaling.analysis.table import Curve, curves, read_table
from scaling.analysis.uncertainty import BootstrapResult, _interval, bootstrap
from scaling.errors import InputError

GRID_POINTS = 9
CROSSOVER_DEFINITION = (
    "D at which the data term of the law equals its parameter term, for each N: below it the loss is data-limited, "
    "above it capacity-limited (the local data exponent has fallen to about half its data-limited value)"
)


@dataclass(frozen=True)
class Fit2DSettings:
    """How `scaling fit2d` fits: the law, residual space, loss, weights, bootstrap size, method and seed."""

    law: str = "chinchilla"
    space: str = "log"
    loss: str = "lsq"
    huber_delta: float = 1e-3
    weights: str = "none"
    bootstrap: int = 0
    seed: int = 0
    n_starts: int = 24
    bootstrap_method: str = "auto"


def fit2d_table(
    path: str,
    n: str,
    d: str,
    y: str,
    group: Sequence[str] = (),
    where: str | None = None,
    settings: Fit2DSettings = Fit2DSettings(),
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Read `path`, fit every group and return the whole fit2d JSON document (validated before any fitting)."""
    if settings.law not in LAWS_2D:
        raise InputError(f"--law {settings.law!r}: not a two-axis law (choose from {', '.join(LAWS_2D)})")
    table = read_table(path, where)
    groups = curves(table, [n, d], y, list(group))
    for curve in groups:
        _check_curve(path, curve, n, d, y, settings)
    fits = [fit_surface(curve, settings, progress) for curve in groups]
    return {
        "columns": {"n": n, "d": d, "y": y, "group": list(group)},
        "where": where,
        "settings": {
            "law": settings.law, "space": settings.space, "loss": settings.loss, "huber_delta": settings.huber_delta,
            "huber_reduction": "sum", "weights": settings.weights, "bootstrap": settings.bootstrap,
            "bootstrap_method": settings.bootstrap_method, "seed": settings.seed,
        },
        "fits": fits,
    }


def _check_curve(path: str, curve: Curve, n: str, d: str, y: str, settings: Fit2DSettings) -> None:
    where = f" (group {curve.label})" if curve.group else ""
    for column, values in ((n, curve.x[:, 0]), (d, curve.x[:, 1])):
        if np.any(values <= 0):
            raise InputError(f"{path}: column {column!r}{where}: value {float(values.min()):g} is not positive")
    if settings.space == "log" and np.any(curve.y <= 0):
        raise InputError(f"{path}: column {y!r}{where}: value {float(curve.y.min()):g} is not positive (--space log)")
    law = get_law(settings.law)
    if len(curve.y) <= len(law.param_names):
        raise InputError(
            f"{path}{where}: {len(curve.y)} distinct ({n}, {d}) points, law {settings.law!r} needs more than "
            f"{len(law.param_names)}"
        )
    if settings.weights == "seed-std":
        bad = np.flatnonzero(curve.y_std <= 0)
        if bad.size:
            i = bad[0]
            raise InputError(
                f"{path}: --weights seed-std{where}: the point {n}={curve.x[i, 0]:g}, {d}={curve.x[i, 1]:g} has "
                f"{int(curve.n_seeds[i])} seed(s) and zero spread in {y!r}; use --weights none"
            )


def fit_surface(curve: Curve, settings: Fit2DSettings, progress: Callable[[int], None] | None = None) -> dict:
    """Fit one group's points and return its JSON entry (DESIGN.md `fit` fields plus the two-axis quantities)."""
    law: Law2D = get_law(settings.law)
    sigma = curve.y_std if settings.weights == "seed-std" else None
    result = fit(law, curve.x, curve.y, sigma=sigma, space=settings.space, loss=settings.loss,
                 huber_delta=settings.huber_delta, huber_reduction="sum", n_starts=settings.n_starts)
    boot = None
    if settings.bootstrap > 0:
        boot = bootstrap(result, curve, n_boot=settings.bootstrap, seed=settings.seed, sigma=sigma, progress=progress,
                         method=settings.bootstrap_method)
    return _record(curve, result, boot)


def _record(curve: Curve, result: FitResult, boot: BootstrapResult | None) -> dict:
    law: Law2D = result.law
    theta = result.theta
    samples = boot.samples if boot is not None else None
    breaks = law.data_breaks(theta).tolist()
    break_names = ["Dc"] * len(breaks)
    if boot is not None:
        breaks_ci95 = [list(boot.params_ci95[name]) for name in break_names]
    else:
        breaks_ci95 = [_wald_log(value, result.stderr.get(name)) for value, name in zip(breaks, break_names)]
    entry = {
        "group": curve.group,
        "law": law.name,
        "params": {k: float(v) for k, v in result.params.items()},
        "stderr": {k: _finite(v) for k, v in result.stderr.items()},
        "params_ci95": {k: [_finite(lo), _finite(hi)] for k, (lo, hi) in boot.params_ci95.items()} if boot else None,
        "bootstrap": _bootstrap_summary(law, boot) if boot else None,
        "exponents": law.exponents_2d(theta),
        "breaks": [float(b) for b in breaks],
        "breaks_ci95": breaks_ci95,
        "aicc": _finite(result.aicc),
        "bic": _finite(result.bic),
        "rmsle": _finite(result.rmsle),
        "holdout_rmsle": None,
        "n_points": int(result.n_points),
        "converged": bool(result.converged),
    }
    entry.update(derived_quantities(law, theta, curve, samples, boot.widening if boot else 1.0))
    entry["points"] = [
        {"n": float(x[0]), "d": float(x[1]), "y": float(y), "std": float(s), "n_seeds": int(m)}
        for x, y, s, m in zip(curve.x, curve.y, curve.y_std, curve.n_seeds)
    ]
    return entry


def derived_quantities(law: Law2D, theta: np.ndarray, curve: Curve, samples: np.ndarray | None,
                       widening: float = 1.0) -> dict:
    """The crossover line, local exponents on a grid, the data exponent per N and, for additive
    (Chinchilla-type) laws, the compute-optimal frontier; intervals from bootstrap `samples` when given."""
    n_data, d_data = curve.x[:, 0], curve.x[:, 1]
    n_grid = np.geomspace(n_data.min(), n_data.max(), GRID_POINTS)
    d_grid = np.geomspace(d_data.min(), d_data.max(), GRID_POINTS)

    crossover_n = np.geomspace(n_data.min() / 2, n_data.max() * 2, 25)
    crossover = derived.crossover_d(law, theta, crossover_n)
    crossover_ci = None
    if samples is not None:
        boot_cross = derived.crossover_d(law, samples, crossover_n)
        crossover_ci = [_ci(c, boot_cross[:, i], True, widening) for i, c in enumerate(crossover)]
    keep = np.isfinite(crossover)

    slope_d, slope_n = derived.local_exponents(law, theta, n_grid, d_grid)

    n_values = np.unique(n_data)
    d_ends = np.array([d_data.min(), d_data.max()])
    per_n, _ = derived.local_exponents(law, theta, n_values, d_ends)
    per_n_entry = {"n": n_values.tolist(), "d_low": float(d_ends[0]), "d_high": float(d_ends[1]),
                   "low": (-per_n[:, 0]).tolist(), "high": (-per_n[:, 1]).tolist()}
    if samples is not None:
        boot_per_n, _ = derived.local_exponents(law, samples, n_values, d_ends)
        for j, key in enumerate(("low", "high")):
            per_n_entry[f"{key}_ci95"] = [
                _ci(-per_n[i, j], -boot_per_n[:, i, j], False, widening) for i in range(len(n_values))
            ]

    out = {
        "crossover": {
            "definition": CROSSOVER_DEFINITION,
            "n": crossover_n[keep].tolist(),
            "d": crossover[keep].tolist(),
            "d_ci95": [ci for ci, k in zip(crossover_ci, keep) if k] if crossover_ci else None,
        },
        "local_exponents": {
            "n": n_grid.tolist(), "d": d_grid.tolist(),
            "dlogL_dlogD": slope_d.tolist(), "dlogL_dlogN": slope_n.tolist(),
        },
        "data_exponent_per_n": per_n_entry,
        "compute_optimal": None,
    }
    if law.name in ("chinchilla", "hoffmann-broken"):
        budgets = 6.0 * n_data * d_data
        compute = np.geomspace(budgets.min(), budgets.max(), GRID_POINTS)
        frontier = derived.compute_optimal(law, theta, compute)
        optimal = {
            "flops_per_param_token": derived.FLOPS_PER_PARAM_TOKEN,
            "C": compute.tolist(), "n_opt": frontier["n_opt"].tolist(), "d_opt": frontier["d_opt"].tolist(),
            "loss_opt": frontier["loss_opt"].tolist(), "a": float(frontier["a"]), "b": float(frontier["b"]),
            "G": _finite(frontier["G"]),
        }
        if samples is not None and law.name == "chinchilla":
            a_s, b_s, _ = derived.chinchilla_allocation(samples)
            optimal["a_ci95"] = _ci(optimal["a"], a_s, False, widening)
            optimal["b_ci95"] = _ci(optimal["b"], b_s, False, widening)
        out["compute_optimal"] = optimal
    return out


def _bootstrap_summary(law: Law2D, boot: BootstrapResult) -> dict:
    """Method, replicate count and the standard deviation of each parameter over the replicates."""
    std = boot.samples.std(axis=0, ddof=1) if boot.n_valid > 1 else np.full(len(law.param_names), np.nan)
    return {"method": boot.method, "n_valid": int(boot.n_valid),
            "stderr": {name: _finite(s) for name, s in zip(law.param_names, std)}}


def _ci(estimate: float, values: np.ndarray, log: bool, widening: float) -> list[float | None]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2 or not np.isfinite(estimate):
        return [None, None]
    lo, hi = _interval(float(estimate), values, log, widening)
    return [_finite(lo), _finite(hi)]


def _wald_log(value: float, stderr: float | None) -> list[float | None]:
    """A 95% interval for a positive scale from its standard error, symmetric in log space."""
    if stderr is None or not np.isfinite(stderr) or value <= 0:
        return [None, None]
    spread = 1.959963984540054 * stderr / value
    return [value * math.exp(-spread), value * math.exp(spread)]


def _finite(value) -> float | None:
    """A JSON-safe number: None for None, NaN or infinity."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
