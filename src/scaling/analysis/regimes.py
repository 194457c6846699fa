"""Regimes in words: which side of a resolved break (or crossover) is data-limited and which capacity-limited.

A break (or the crossover D_x(N) of a two-axis fit) marks a regime change only when its 95% band leaves at least two
distinct data x on each side: each regime then has points of its own. Only then is a regime named; otherwise the
sentence says the data show one regime. Over D at fixed N a flattening curve goes from data-limited (more data helps)
to capacity-limited (the model's size limits it); over N at fixed D the other way round. A break whose position or
sharpness the fit leaves unidentified names no regime either. The figures
(`scaling.plot.figures`) and `scaling demo`'s printout use these, so what is drawn and what is said agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MIN_POINTS_PER_SIDE = 2
_AXIS_SYMBOLS = {"train_size": "D", "d": "D", "n_params": "N", "n": "N"}
# regime below and above a flattening break, per axis
_FLATTENING = {"D": ("data-limited", "capacity-limited"), "N": ("capacity-limited", "data-limited")}


def break_interval(value: float, ci: Sequence[float] | None, stderr: float | None) -> tuple[float, float] | None:
    """The 95% band of a break: its bootstrap interval when finite, else +-1.96 standard errors in log, else None."""
    if ci is not None and len(ci) == 2 and all(v is not None and np.isfinite(v) for v in ci):
        return float(ci[0]), float(ci[1])
    if stderr is not None and np.isfinite(stderr) and value > 0:
        spread = 1.96 * stderr / value
        return value * math.exp(-spread), value * math.exp(spread)
    return None


def break_resolved(band: tuple[float, float] | None, xs) -> bool:
    """A break is resolved when its 95% band leaves at least two distinct data x on each side: a regime needs
    points of its own (a break at the first point, or a band spanning the data, marks no regime change)."""
    if band is None:
        return False
    xs = np.unique(np.asarray(xs, dtype=float))
    return int((xs < band[0]).sum()) >= MIN_POINTS_PER_SIDE and int((xs > band[1]).sum()) >= MIN_POINTS_PER_SIDE


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 1e4 else f"{value:.2g}"


def _band_text(value: float, band: tuple[float, float]) -> str:
    return f"{_number(value)} [{_number(band[0])}, {_number(band[1])}]"


def describe_breaks(entry: dict, xs, x: str, with_exponents: bool = True) -> str | None:
    """One sentence on the regimes of a one-axis fit entry (`scaling fit` JSON) over data x values `xs`, e.g.
    "data-limited (alpha = 0.91) below D = 83 [61, 112], capacity-limited (alpha = 0.05) above", or None when no
    break of the entry is resolved. An axis other than D or N, or a break that steepens the curve, is described
    by its exponents without regime names. `with_exponents=False` leaves out the exponents of named regimes (for a
    legend that lists them already)."""
    breaks = entry.get("breaks") or []
    exponents = entry.get("exponents") or []
    if not breaks or len(exponents) != len(breaks) + 1:
        return None
    cis = entry.get("breaks_ci95") or [None] * len(breaks)
    stderr = entry.get("stderr") or {}
    bands = [break_interval(v, ci, stderr.get(f"d{j + 1}")) for j, (v, ci) in enumerate(zip(breaks, cis))]
    if not all(break_resolved(band, xs) for band in bands) or _shape_unidentified(entry, len(breaks)):
        return None
    symbol = _AXIS_SYMBOLS.get(x, x)
    names = _FLATTENING.get(symbol)
    if len(breaks) == 1 and names and exponents[1] < exponents[0]:
        below, above = names
        if with_exponents:
            below, above = f"{below} (alpha = {exponents[0]:.2f})", f"{above} (alpha = {exponents[1]:.2f})"
        return f"{below} below {symbol} = {_band_text(breaks[0], bands[0])}, {above} above"
    parts = [f"alpha = {exponents[0]:.2f} below {symbol} = {_band_text(breaks[0], bands[0])}"]
    for j in range(1, len(breaks)):
        parts.append(f"{exponents[j]:.2f} up to {symbol} = {_band_text(breaks[j], bands[j])}")
    parts.append(f"{exponents[-1]:.2f} above")
    return "; ".join(parts)


def _shape_unidentified(entry: dict, n_breaks: int) -> bool:
    """A fitted break position or sharpness the data do not identify (`unidentified` in the fit JSON; a sharpness
    driven to its bound is a kink whose bootstrap replicates stick to a data point, which makes its band too
    narrow): such a break names no regime. A sharpness the user fixed is not fitted and does not count."""
    unidentified = set(entry.get("unidentified") or [])
    return any(f"{p}{j + 1}" in unidentified for j in range(n_breaks) for p in ("d", "f"))


def crossover_at(entry: dict, n_values) -> list[tuple[float, float, tuple[float, float] | None]]:
    """The crossover D_x(N) of a two-axis fit entry (`scaling fit2d` JSON) at each of `n_values`, with its 95% band
    (interpolated in log between the entry's crossover grid; None without bootstrap); [] when withheld."""
    crossover = entry.get("crossover") or {}
    grid_n, grid_d = crossover.get("n") or [], crossover.get("d") or []
    if len(grid_n) < 2:
        return []
    log_n = np.log(np.asarray(grid_n, dtype=float))
    cis = crossover.get("d_ci95")
    out = []
    for n in n_values:
        if not log_n[0] <= math.log(n) <= log_n[-1]:
            continue
        d = math.exp(float(np.interp(math.log(n), log_n, np.log(grid_d))))
        band = None
        if cis and all(ci is not None and None not in ci and min(ci) > 0 for ci in cis):
            lo = math.exp(float(np.interp(math.log(n), log_n, np.log([ci[0] for ci in cis]))))
            hi = math.exp(float(np.interp(math.log(n), log_n, np.log([ci[1] for ci in cis]))))
            band = (lo, hi)
        out.append((float(n), d, band))
    return out


def describe_crossover(entry: dict) -> list[str]:
    """One sentence per data N whose crossover D_x(N) is resolved inside the data D (its band leaves two data D on
    each side), e.g. "N = 1309: data-limited below D_x = 83 [61, 112], capacity-limited above"."""
    points = entry.get("points") or []
    n_values = sorted({p["n"] for p in points})
    sentences = []
    for n, d, band in crossover_at(entry, n_values):
        d_data = [p["d"] for p in points if p["n"] == n]
        if break_resolved(band, d_data):
            sentences.append(f"N = {_number(n)}: data-limited below D_x = {_band_text(d, band)}, "
                             "capacity-limited above")
    return sentences
