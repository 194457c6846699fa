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

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from scaling.analysis import derived
from scaling.analysis.checks import check_curve
from scaling.analysis.fitting import FitResult, fit
from scaling.analysis.frontier import (
    Compute,
    cost_draws,
    cost_record,
    curve_compute,
    frontier,
    isoflop,
    point_compute,
)
from scaling.analysis.laws import get_law, law_names
from scaling.analysis.laws2d import AdditiveLaw2D, Law2D
from scaling.analysis.record import common_fields, document, finite, log_interval
from scaling.analysis.table import Curve, curves, read_fit_table
from scaling.analysis.uncertainty import (
    BootstrapResult,
    _interval,
    bootstrap,
    check_replicates,
)
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
    compute: str | None = None  # a column of measured training compute: the frontier's cost model is fitted to it

    def check(self) -> None:
        """Every setting on its own, before any file is read (InputError naming the flag and value)."""
        if self.law not in law_names(n_inputs=2):
            raise InputError(f"--law {self.law!r}: not a two-axis law (choose from {', '.join(law_names(n_inputs=2))})")
        if not self.huber_delta > 0:
            raise InputError(f"--huber-delta must be positive, got {self.huber_delta:g}")
        check_replicates(self.bootstrap)
        if self.n_starts < 1:
            raise InputError(f"--starts must be >= 1, got {self.n_starts}")


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
    settings.check()
    table, left_out = read_fit_table(path, where)
    groups = curves(table, [n, d], y, list(group), x_flags=["--n", "--d"])
    law = get_law(settings.law)
    for curve in groups:
        check_curve(table.path, curve, [n, d], y, settings.space, settings.weights)
        if len(curve.y) <= len(law.param_names):
            raise InputError(f"{table.path}: {curve.label}: {len(curve.y)} distinct ({n}, {d}) points, law "
                             f"{settings.law!r} needs more than {len(law.param_names)}")
    measured = [None] * len(groups)
    if settings.compute is not None:
        by_group = point_compute(table, settings.compute, n, d, list(group))
        measured = [np.array([points[tuple(map(float, x))] for x in curve.x])
                    for curve, points in zip(groups, by_group.values())]
    fits = [fit_surface(curve, settings, progress, m) for curve, m in zip(groups, measured)]
    settings_record = {**asdict(settings), "huber_reduction": "sum"}
    columns = {"n": n, "d": d, "y": y, "group": list(group)}
    if settings.compute:
        columns["compute"] = settings.compute
    return document("fit2d", str(path), columns, where, settings_record,
                    left_out, fits)


def fit_surface(curve: Curve, settings: Fit2DSettings, progress: Callable[[int], None] | None = None,
                measured: np.ndarray | None = None) -> dict:
    """Fit one group's points and return its JSON entry (docs/analysis.md `fit` fields plus the two-axis quantities);
    `measured`: the points' compute from `settings.compute` (None: C = 6 N D is assumed)."""
    law: Law2D = get_law(settings.law)
    sigma = curve.y_std if settings.weights == "seed-std" else None
    result = fit(law, curve.x, curve.y, sigma=sigma, space=settings.space, loss=settings.loss,
                 huber_delta=settings.huber_delta, huber_reduction="sum", n_starts=settings.n_starts)
    boot = None
    if settings.bootstrap > 0:
        boot = bootstrap(result, curve, n_boot=settings.bootstrap, seed=settings.seed, sigma=sigma, progress=progress,
                         method=settings.bootstrap_method)
    compute = curve_compute(curve.x[:, 0], curve.x[:, 1], measured, settings.compute)
    return _record(curve, result, boot, compute, settings.seed)


def _record(curve: Curve, result: FitResult, boot: BootstrapResult | None, compute: Compute, seed: int) -> dict:
    law: Law2D = result.law
    theta = result.theta
    samples = boot.samples if boot is not None else None
    breaks = law.data_breaks(theta).tolist()
    if boot is not None:
        breaks_ci95 = [list(boot.params_ci95["Dc"]) for _ in breaks]
    else:
        breaks_ci95 = [log_interval(value, result.stderr.get("Dc"), result.n_points, result.k) for value in breaks]
    entry = common_fields(curve, result, law.exponents_2d(theta), breaks, breaks_ci95)
    entry["params"] = {k: float(v) for k, v in result.params.items()}
    entry["params_ci95"] = ({k: [finite(lo), finite(hi)] for k, (lo, hi) in boot.params_ci95.items()}
                            if boot else None)
    entry["bootstrap"] = _bootstrap_summary(law, boot) if boot else None
    entry["converged"] = bool(result.converged)
    entry.update(derived_quantities(law, theta, curve, samples, boot.widening if boot else 1.0, compute,
                                    _draws(curve, boot, seed)))
    entry["cost_model"] = cost_record(compute)
    entry["isoflop"] = isoflop(curve.x, curve.y, compute.values)
    entry["points"] = [
        {"n": float(x[0]), "d": float(x[1]), "y": float(y), "std": float(s), "n_seeds": int(m)}
        for x, y, s, m in zip(curve.x, curve.y, curve.y_std, curve.n_seeds)
    ]
    entry["withheld"] = withhold_unidentified(entry)
    return entry


_FLOORS = ("E", "L0")  # the loss floor: the crossover, frontier and local exponents do not rest on it


def withhold_unidentified(entry: dict) -> dict[str, str]:
    """Set to None the derived quantities (crossover line, compute-optimal frontier) that rest on a parameter the
    data do not identify (any but the floor), and withhold the exponent guides of a figure where a parameter is
    unidentified or the data break is not resolved; returns {quantity: reason} for what was withheld."""
    withheld = {}
    shaky = [name for name in entry["unidentified"] if name not in _FLOORS]
    if shaky:
        reason = f"rests on unidentified {', '.join(shaky)}"
        for key in ("crossover", "compute_optimal"):
            if entry.get(key) is not None:
                entry[key] = None
                withheld[key] = reason
        withheld["exponent_guides"] = reason
    elif entry["breaks"] and not _break_resolved(entry):
        withheld["exponent_guides"] = ("the break Dc is not resolved: its 95% interval leaves no data D on one side "
                                       "or is unknown")
    return withheld


def _break_resolved(entry: dict) -> bool:
    """The data break's 95% interval is known and has a data D below and above it."""
    d_values = {p["d"] for p in entry["points"]}
    lo, hi = entry["breaks_ci95"][0]
    if lo is None or hi is None:
        return False
    return any(v < lo for v in d_values) and any(v > hi for v in d_values)


def _draws(curve: Curve, boot: BootstrapResult | None, seed: int) -> np.ndarray | None:
    """The point indices each replicate's cost model is refitted on (the surface's own with pairs)."""
    return cost_draws(len(curve.y), boot.n_valid, seed, boot.draws) if boot is not None else None


def derived_quantities(law: Law2D, theta: np.ndarray, curve: Curve, samples: np.ndarray | None,
                       widening: float = 1.0, compute: Compute | None = None, draws: np.ndarray | None = None) -> dict:
    """The crossover line, local exponents on a grid, the data exponent per N and, for additive
    (Chinchilla-type) laws, the compute-optimal frontier on `compute`'s cost model (6 N D when None), with
    bootstrap bands; intervals from bootstrap `samples` when given."""
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
    if isinstance(law, AdditiveLaw2D):  # a compute-optimal frontier exists where the two terms add
        compute = compute or curve_compute(n_data, d_data, None, None)
        out["compute_optimal"] = frontier(law, theta, curve.x, compute, samples, draws,
                                          lambda estimate, values, log: _ci(estimate, values, log, widening))
    return out


def _bootstrap_summary(law: Law2D, boot: BootstrapResult) -> dict:
    """Method, replicate count and the standard deviation of each parameter over the replicates."""
    std = boot.samples.std(axis=0, ddof=1) if boot.n_valid > 1 else np.full(len(law.param_names), np.nan)
    return {"method": boot.method, "n_valid": int(boot.n_valid),
            "stderr": {name: finite(s) for name, s in zip(law.param_names, std)}}


def _ci(estimate: float, values: np.ndarray, log: bool, widening: float) -> list[float | None]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2 or not np.isfinite(estimate):
        return [None, None]
    lo, hi = _interval(float(estimate), values, log, widening)
    return [finite(lo), finite(hi)]
