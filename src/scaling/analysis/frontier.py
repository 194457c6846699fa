"""The compute-optimal frontier of a fitted surface L(N, D) and the IsoFLOP view, on measured or assumed compute.

Cost model: with `fit2d --compute COL` a power law C = c N^a D^b is fitted by least squares on ln COL of the
table's points (seeds averaged per (N, D)); without it C = 6 N D is assumed, and the JSON says which. The frontier
N_opt(C), D_opt(C), L_opt(C) minimises the fitted law on the budget line cost(N, D) = C
(`scaling.analysis.derived.compute_optimal`), over budgets spanning the points' compute. Its 95% bands come from the
fit's bootstrap replicates: each surface replicate is paired with a cost model refitted on the points drawn with
replacement (the same draw as the surface's with `--bootstrap-method pairs`, an independent one otherwise), and the
frontier recomputed; the intervals are the bootstrap's (percentile, t-widened as the parameters' are).

IsoFLOP (Hoffmann et al.'s approach 2): the points binned by compute (bins a factor ISOFLOP_BIN_FACTOR wide in C,
edges on powers of that factor), in each bin with at least 3 distinct N a parabola in ln N fitted to ln L, whose
vertex is that bin's N_opt when it lies inside the bin's N range; `a` is the least-squares slope of ln N_opt against
ln C over the bins (with 2 or more). This uses the data, not the fitted law; points in one bin differ in compute by
up to the bin's factor, which the parabola ignores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scaling.analysis.derived import ASSUMED_COST, CostModel, compute_optimal
from scaling.analysis.laws2d import Law2D
from scaling.analysis.record import finite
from scaling.analysis.table import Table, numeric_column
from scaling.errors import InputError

GRID_POINTS = 9
ISOFLOP_BIN_FACTOR = 2.0
ISOFLOP_MIN_N = 3


@dataclass(frozen=True)
class Compute:
    """The compute of a curve's points and the cost model they give: `column` None for the assumed 6 N D."""

    values: np.ndarray  # [n_points]
    cost: CostModel
    column: str | None = None
    rmsle: float | None = None  # of the fitted cost model on the points


def point_compute(table: Table, column: str, n: str, d: str, group: list[str]) -> dict[tuple, dict[tuple, float]]:
    """{group key: {(N, D): mean compute}} from `column` (the seeds of a point averaged), positive and finite."""
    values = numeric_column(table, column, "--compute")
    for i, value in enumerate(values):
        if value <= 0:
            raise InputError(f"{table.path}: column {column!r} row {i + 1}: {value:g} is not a positive compute")
    ns, ds = numeric_column(table, n, "--n"), numeric_column(table, d, "--d")
    keys = list(zip(*(table.require(name, "--group") for name in group))) if group else [()] * len(values)
    sums: dict[tuple, dict[tuple, list[float]]] = {}
    for key, n_value, d_value, value in zip(keys, ns, ds, values):
        sums.setdefault(key, {}).setdefault((float(n_value), float(d_value)), []).append(float(value))
    return {key: {point: float(np.mean(v)) for point, v in points.items()} for key, points in sums.items()}


def fit_cost_model(n: np.ndarray, d: np.ndarray, compute: np.ndarray) -> CostModel:
    """C = c N^a D^b by least squares on ln C (ln c, a, b from [1, ln N, ln D]); an axis with a single value in the
    data keeps its 6 N D exponent 1 (its exponent is not identified)."""
    log_n, log_d, log_c = np.log(n), np.log(d), np.log(compute)
    columns = [np.ones_like(log_n)]
    free = [np.ptp(log_n) > 0, np.ptp(log_d) > 0]
    target = log_c - sum(col for col, f in zip((log_n, log_d), free) if not f)
    columns += [col for col, f in zip((log_n, log_d), free) if f]
    coef = np.linalg.lstsq(np.stack(columns, axis=1), target, rcond=None)[0]
    exponents = iter(coef[1:])
    a, b = (float(next(exponents)) if f else 1.0 for f in free)
    return CostModel(c=float(math.exp(coef[0])), a=a, b=b)


def curve_compute(n: np.ndarray, d: np.ndarray, measured: np.ndarray | None, column: str | None) -> Compute:
    """The points' compute and cost model: measured and fitted when `measured` is given, else 6 N D."""
    if measured is None:
        return Compute(ASSUMED_COST.c * n * d, ASSUMED_COST)
    cost = fit_cost_model(n, d, measured)
    fitted = np.log(cost.c) + cost.a * np.log(n) + cost.b * np.log(d)
    return Compute(measured, cost, column, float(np.sqrt(np.mean((np.log(measured) - fitted) ** 2))))


def cost_record(compute: Compute) -> dict:
    """The JSON of the cost model: assumed or fitted, with its formula and parameters."""
    if compute.column is None:
        return {"kind": "assumed", "formula": "C = 6 N D", "column": None, "c": 6.0, "a": 1.0, "b": 1.0,
                "rmsle": None}
    cost = compute.cost
    return {"kind": "fitted", "formula": "C = c N^a D^b (least squares on ln C)", "column": compute.column,
            "c": finite(cost.c), "a": finite(cost.a), "b": finite(cost.b), "rmsle": finite(compute.rmsle)}


def frontier(law: Law2D, theta: np.ndarray, points: np.ndarray, compute: Compute, samples: np.ndarray | None,
             draws: np.ndarray | None, interval) -> dict:
    """The frontier's JSON: budgets over the points' compute, N_opt, D_opt, L_opt, exponents and, with bootstrap
    `samples` [B, P], 95% bands; `draws` [B, n_points] are the point indices each replicate's cost model is
    refitted on. `interval(estimate, values, log)` turns replicate values into a 95% interval."""
    budgets = np.geomspace(compute.values.min(), compute.values.max(), GRID_POINTS)
    best = compute_optimal(law, theta, budgets, compute.cost)
    out = {
        "cost_model": cost_record(compute),
        "C": budgets.tolist(), "n_opt": best["n_opt"].tolist(), "d_opt": best["d_opt"].tolist(),
        "loss_opt": best["loss_opt"].tolist(), "a": float(best["a"]), "b": float(best["b"]), "G": finite(best["G"]),
        "flops_per_param_token": ASSUMED_COST.c if compute.column is None else None,
    }
    if samples is None or len(samples) < 2:
        return out
    with np.errstate(all="ignore"):  # a replicate far off (an exponent near 0) gives NaN there: left out below
        replicates = [_replicate(law, t, points, compute, budgets, draw) for t, draw in zip(samples, draws)]
    for key in ("n_opt", "d_opt", "loss_opt"):
        values = np.array([r[key] for r in replicates])
        out[f"{key}_ci95"] = [interval(best[key][i], values[:, i], True) for i in range(len(budgets))]
    for key in ("a", "b"):
        out[f"{key}_ci95"] = interval(out[key], np.array([float(r[key]) for r in replicates]), False)
    return out


def _replicate(law: Law2D, theta: np.ndarray, points: np.ndarray, compute: Compute, budgets: np.ndarray,
               draw: np.ndarray) -> dict:
    cost = compute.cost
    if compute.column is not None:
        n, d = points[draw, 0], points[draw, 1]
        cost = fit_cost_model(n, d, compute.values[draw])
    return compute_optimal(law, theta, budgets, cost)


def cost_draws(n_points: int, n_boot: int, seed: int, pairs: np.ndarray | None) -> np.ndarray:
    """Point indices [n_boot, n_points] each replicate's cost model is refitted on: the surface's own pairs draw,
    else points drawn with replacement (seeded by the bootstrap seed + 1, apart from the surface's draws)."""
    if pairs is not None:
        return pairs
    return np.random.default_rng(seed + 1).integers(0, n_points, size=(n_boot, n_points))


def isoflop(points: np.ndarray, loss: np.ndarray, compute: np.ndarray) -> dict:
    """Loss against N at (about) fixed compute, per compute bin, with the parabola in ln N and its N_opt; a bin with
    fewer than ISOFLOP_MIN_N distinct N is listed with the reason it has no parabola."""
    log_bin = np.floor(np.log(compute) / math.log(ISOFLOP_BIN_FACTOR) + 1e-9).astype(int)
    bins = []
    for k in np.unique(log_bin):
        inside = log_bin == k
        n_values = np.unique(points[inside, 0])
        entry = {"C_low": ISOFLOP_BIN_FACTOR**float(k), "C_high": ISOFLOP_BIN_FACTOR**float(k + 1),
                 "C": float(np.exp(np.mean(np.log(compute[inside])))),
                 "n": points[inside, 0].tolist(), "d": points[inside, 1].tolist(), "loss": loss[inside].tolist(),
                 "parabola": None, "n_opt": None, "note": None}
        if len(n_values) < ISOFLOP_MIN_N:
            entry["note"] = f"{len(n_values)} distinct N in this bin; a parabola needs {ISOFLOP_MIN_N}"
        else:
            coef = np.polyfit(np.log(points[inside, 0]), np.log(loss[inside]), 2)
            entry["parabola"] = [float(c) for c in coef]
            vertex = -coef[1] / (2 * coef[0]) if coef[0] > 0 else None
            if vertex is None:
                entry["note"] = "the parabola opens downward: no minimum"
            elif not np.log(n_values.min()) <= vertex <= np.log(n_values.max()):
                entry["note"] = "the parabola's minimum lies outside the bin's N range"
            else:
                entry["n_opt"] = float(np.exp(vertex))
        bins.append(entry)
    found = [(b["C"], b["n_opt"]) for b in bins if b["n_opt"] is not None]
    note = None if found else (f"no compute bin (a factor {ISOFLOP_BIN_FACTOR:g} wide) has {ISOFLOP_MIN_N} or more "
                               "distinct N with a minimum inside them: the grid does not allow an IsoFLOP view")
    slope = float(np.polyfit(*np.log(np.array(found)).T, 1)[0]) if len(found) >= 2 else None
    return {"bin_factor": ISOFLOP_BIN_FACTOR, "min_distinct_n": ISOFLOP_MIN_N, "bins": bins,
            "bins_with_n_opt": len(found), "a": slope, "note": note}
