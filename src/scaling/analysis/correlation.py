"""Does the loss rank potentials the way their use does? Spearman rank correlation between a sweep table's loss
column and each use-case metric column across cells, with a bootstrap 95% interval over cells.

`rank_agreement` is rho signed so that +1 means "a lower loss always comes with a better metric": rho itself for
errors (lower is better), -rho for metrics where higher is better (md_failure_temperature_k).

A metric the evaluation could not define for a cell (e.g. an equation of state without a minimum: null in its
evaluation.json) ranks that cell last for that metric rather than dropping it, so the worst potentials are not
silently left out; a cell that was not evaluated (no `eval_seconds`) is left out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Use-case metric columns (docs/usecase.md) and which direction is better.
LOWER_IS_BETTER = (
    "lattice_constant_error_pct", "bulk_modulus_error_pct", "c11_error_pct", "c12_error_pct", "c44_error_pct",
    "vacancy_formation_error_ev", "surface_energy_error_pct", "hot_force_mae_ev_a", "force_softening_error",
    "nve_drift_mev_atom_ps",
)
HIGHER_IS_BETTER = ("md_failure_temperature_k",)


def metric_columns(table) -> list[str]:
    """The use-case metric columns of a table that hold at least one finite value (emt metrics and group_* MAEs)."""
    known = [c for c in LOWER_IS_BETTER + HIGHER_IS_BETTER if c in table.columns]
    groups = [c for c in table.columns if c.startswith("group_") and c.endswith("_mae")]
    return [c for c in known + groups if np.isfinite(np.asarray(table[c], dtype=float)).any()]


def spearman_bootstrap(x, y, n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Spearman rho and p-value of (x, y) over the pairs where both are finite, and the 2.5/97.5 percentiles of
    rho over `n_bootstrap` resamplings of those pairs with replacement (resamples with constant ranks skipped)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~np.isnan(x) & ~np.isnan(y)  # +-inf (an undefined metric ranked last) stays: ranks handle it
    x, y = x[keep], y[keep]
    n = len(x)

    def varies(values) -> bool:
        return len(np.unique(values)) > 1

    if n < 3 or not varies(x) or not varies(y):
        return {"rho": math.nan, "p_value": math.nan, "ci95": [math.nan, math.nan], "n_cells": n}
    rho, p_value = spearmanr(x, y)
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(n_bootstrap):
        pick = rng.integers(0, n, n)
        if varies(x[pick]) and varies(y[pick]):
            replicates.append(spearmanr(x[pick], y[pick])[0])
    ci = np.percentile(replicates, [2.5, 97.5]).tolist() if replicates else [math.nan, math.nan]
    return {"rho": float(rho), "p_value": float(p_value), "ci95": [float(v) for v in ci], "n_cells": n}


def correlate_table(table, loss: str = "val_loss", n_bootstrap: int = 1000, seed: int = 0,
                    source: str = "") -> dict[str, Any]:
    """The correlation document: {"source", "loss", "n_bootstrap", "seed", "metrics", "correlations": [{"metric",
    "better", "rho", "rank_agreement", "p_value", "ci95", "n_cells"}]} over the table's done cells."""
    from scaling.errors import InputError

    if loss not in table.columns:
        raise InputError(f"{source or 'table'}: no loss column {loss!r} (columns: {', '.join(table.columns)})")
    if "status" in table.columns:
        table = table[table["status"] == "done"]
    metrics = metric_columns(table)
    rows = []
    evaluated = np.isfinite(np.asarray(table["eval_seconds"], dtype=float)) if "eval_seconds" in table.columns \
        else np.ones(len(table), dtype=bool)
    for metric in metrics:
        sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
        values = np.asarray(table[metric], dtype=float)
        values = np.where(evaluated & np.isnan(values), sign * np.inf, values)
        stats = spearman_bootstrap(table[loss], values, n_bootstrap, seed)
        rows.append({"metric": metric, "better": "higher" if sign < 0 else "lower", **stats,
                     "rank_agreement": sign * stats["rho"]})
    return {"source": str(source), "loss": loss, "n_bootstrap": n_bootstrap, "seed": seed, "metrics": metrics,
            "correlations": [{k: _json_number(v) for k, v in row.items()} for row in rows]}


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    return value

