"""Figures for papers, drawn from a tidy results table and/or a fit JSON (schemas in docs/sweeps.md and docs/analysis.md).

One-axis fits (`scaling fit` JSON):
- `plot_fit1d`: loss vs x, one curve per group, seed error bars, the fitted law, each break with its 95% band,
  regimes shaded and exponents annotated (in the legend when there are several groups).
- `plot_residuals` and `plot_exponents` also take a one-axis fit.
Two-axis fits (`scaling fit2d` JSON, which carries its own seed-averaged points):
- `plot_slices(..., axis="D")`: (a) loss vs D, one curve per N; `axis="N"`: (b) loss vs N, one curve per D.
- `plot_surface`: (c) filled contours of the fitted L(N, D) on log axes, data points, crossover line, iso-loss lines.
- `plot_residuals`: (d) ln(observed / fitted) per point.
- `plot_exponents`: (e) the fitted data exponent per N with 95% intervals.
- `scaling.plot.frontier.plot_frontier`: (f) IsoFLOP curves and the compute-optimal frontier with its bands.
`plot_fit2d_all` writes all six. Every function writes OUT.pdf and OUT.png and returns their paths.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import patheffects, ticker
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize, to_hex
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from scaling.analysis.regimes import break_interval as _interval
from scaling.analysis.regimes import break_resolved as _resolved
from scaling.analysis.regimes import crossover_at, describe_breaks
from scaling.plot import style
from scaling.plot.data import (
    as_frame,
    evaluate_fit,
    fit_kind,
    group_label,
    law_of_fit,
    numeric_group_value,
    seed_summary,
    select_group,
    theta_of_fit,
)

PathLike = str | os.PathLike
_REGIME_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")


# ----------------------------------------------------------------------------------------------------------- helpers
def _log_ticks(ax, axis: str, lo: float, hi: float) -> None:
    """Readable ticks on a log axis that spans less than two decades: linear round steps under a factor 30 (a loss
    from 0.9 to 1.8), round 1-2-5 values up to 100 (0.05 to 2), in plain numbers, never 4x10^-1."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    if hi / lo > 30:
        _compact_log_axis(target, lo, hi)
        return
    ticks = [t for t in ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]
    if len(ticks) >= 2:
        target.set_major_locator(ticker.FixedLocator(ticks))
        target.set_major_formatter(ticker.FormatStrFormatter("%g"))
        target.set_minor_formatter(ticker.NullFormatter())


def _round_log_ticks(lo: float, hi: float) -> list[float]:
    """Three to seven round values (1, 2, 5 or 1, 1.5, 2, 3, 5, 7 times a power of ten) inside [lo, hi], for a log
    colour bar: matplotlib's own locator can leave a bar spanning less than two decades with one unreadable tick."""
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    for mantissas in ((1,), (1, 3), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0**k for k in decades for m in mantissas if lo <= m * 10.0**k <= hi]
        if len(ticks) >= 3:
            return ticks if len(ticks) <= 7 else ticks[:: math.ceil(len(ticks) / 7)]
    return [v for v in ticker.MaxNLocator(nbins=4).tick_values(lo, hi) if lo <= v <= hi]  # under a factor 1.5


def _compact_log_axis(axis, lo: float, hi: float) -> None:
    """Round, compactly written ticks (2k, 5k, 10k) on a log axis spanning under two decades, where matplotlib
    would label minor ticks in scientific notation (2x10^3, 3x10^3, ...) and crowd them."""
    if hi / lo >= 100:
        return
    ticks = _round_log_ticks(lo, hi)
    axis.set_major_locator(ticker.FixedLocator(ticks))
    axis.set_major_formatter(ticker.FixedFormatter([style.compact_number(v) for v in ticks]))
    axis.set_minor_formatter(ticker.NullFormatter())


def _padded(lo: float, hi: float, fraction: float = 0.06) -> tuple[float, float]:
    """A log range widened by `fraction` of its width on both sides."""
    span = math.log10(hi) - math.log10(lo)
    pad = max(span * fraction, 0.02)
    return 10 ** (math.log10(lo) - pad), 10 ** (math.log10(hi) + pad)


def _inside_view(ax, xs: Sequence[float], ys: Sequence[float]) -> bool:
    """Whether a line through these vertices (joined in log space) shows inside the axes' current limits: a legend
    lists a line only when the reader can find it."""
    if len(xs) == 0:
        return False
    path = _dense_path(xs, ys, 400) if len(xs) > 1 else np.array([[xs[0], ys[0]]], float)
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    inside = (path[:, 0] >= x0) & (path[:, 0] <= x1) & (path[:, 1] >= y0) & (path[:, 1] <= y1)
    return bool(inside.any())


def _style_column(series: list[dict]) -> str | None:
    """The group column drawn as marker and line style: the first non-numeric one with 2-6 values (arch) when the
    series have another group column left for colour."""
    groups = [s.get("group") or {} for s in series]
    if not groups or len(groups[0]) < 2:
        return None
    for column in groups[0]:
        values = list(dict.fromkeys(str(g.get(column)) for g in groups))
        if 2 <= len(values) <= len(style.MARKERS) and all(numeric_group_value({column: v}) is None for v in values):
            return column
    return None


def _varying(group: dict | None, series: list[dict]) -> dict:
    """The group's columns whose value differs between series (arch=twobody in every fit says nothing)."""
    return {k: v for k, v in (group or {}).items()
            if len({str((s.get("group") or {}).get(k)) for s in series}) > 1}


def _series_styles(series: list[dict]) -> tuple[list[str], list[str], list, np.ndarray]:
    """(colour, marker, line style, drawing order) per series. With a style column (e.g. arch beside n_params),
    marker and line style follow it and colour follows the other columns (ordered viridis when those are one
    number); otherwise colour alone tells the series apart, as before."""
    column = _style_column(series)
    if column is None:
        numeric = [numeric_group_value(_varying(s.get("group"), series)) for s in series]
        ordered = all(v is not None for v in numeric) and len(series) > 1
        colours = style.ordered_colors(len(series)) if ordered else style.categorical_colors(len(series))
        order = np.argsort(numeric) if ordered else np.arange(len(series))
        by_series = [""] * len(series)
        for colour, i in zip(colours, order):
            by_series[i] = colour
        return by_series, ["o"] * len(series), ["-"] * len(series), order
    kinds = list(dict.fromkeys(str((s.get("group") or {}).get(column)) for s in series))
    rest = [tuple((k, v) for k, v in (s.get("group") or {}).items() if k != column) for s in series]
    distinct = list(dict.fromkeys(rest))
    numbers = [numeric_group_value(dict(key)) for key in distinct]
    if all(v is not None for v in numbers) and len(distinct) > 1:
        distinct = [distinct[i] for i in np.argsort(numbers)]
        palette = style.ordered_colors(len(distinct))
    else:
        palette = style.categorical_colors(len(distinct))
    colour_of = dict(zip(distinct, palette))
    kind_of = [kinds.index(str((s.get("group") or {}).get(column))) for s in series]
    colours = [colour_of[key] for key in rest]
    markers = [style.MARKERS[k] for k in kind_of]
    linestyles = [style.LINESTYLES[k] for k in kind_of]
    order = np.array(sorted(range(len(series)), key=lambda i: (kind_of[i], distinct.index(rest[i]))))
    return colours, markers, linestyles, order


def _panels(count: int, aspect: float = 0.8):
    """One panel per fit: column width for one, page width for up to three per row."""
    ncols = min(count, 3)
    nrows = math.ceil(count / ncols)
    width = style.COLUMN_WIDTH if count == 1 else style.PAGE_WIDTH
    fig, axes = style.figure(width=width, aspect=aspect * nrows / ncols, ncols=ncols, nrows=nrows)
    flat = axes.ravel()
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _headroom(ax, fraction: float = 0.12) -> None:
    """Raise the top of a log y axis so the data end `fraction` of the height below it: room for labels there."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, lo * (hi / lo) ** (1 / (1 - fraction)))


def _shade_regimes(ax, edges: Sequence[float], exponents: Sequence[float], symbol: str) -> None:
    """Shade each regime between breaks in its own light colour and write its exponent at the top of the axes,
    in headroom above the data."""
    if exponents:
        _headroom(ax)
    lo, hi = ax.get_xlim()
    bounds = [lo, *[e for e in edges if lo < e < hi], hi]
    transform = ax.get_xaxis_transform()
    for i, (left, right) in enumerate(zip(bounds[:-1], bounds[1:])):
        colour = _REGIME_COLORS[i % len(_REGIME_COLORS)]
        ax.axvspan(left, right, color=colour, alpha=style.REGIME_ALPHA, lw=0, zorder=0)
        if i < len(exponents):
            centre = math.sqrt(left * right)
            label = f"{symbol}$_{{{i + 1}}}$ = {exponents[i]:.2f}" if len(exponents) > 1 else f"{symbol} = {exponents[i]:.2f}"
            ax.text(centre, 0.97, label, transform=transform, ha="center", va="top", fontsize=6.5, color=colour,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _mean_slope(entry: dict, xs: np.ndarray) -> float:
    """-d ln y / d ln x of a one-axis fit averaged over the data's x range: the exponent the data support when they
    cannot place a break (the fitted regime exponents then describe x outside the data)."""
    lo, hi = float(np.min(xs)), float(np.max(xs))
    y_lo, y_hi = evaluate_fit(entry, np.array([lo, hi]))
    return -math.log(y_hi / y_lo) / math.log(hi / lo)


def _mark_break(ax, value: float, band: tuple[float, float] | None, colour: str = "0.25") -> None:
    if band is not None:
        ax.axvspan(band[0], band[1], color=colour, alpha=style.BAND_ALPHA, lw=0, zorder=0.5)
    ax.axvline(value, color=colour, lw=0.8, ls="--", zorder=0.6)


# ------------------------------------------------------------------------------------------------- one-axis figure
def plot_fit1d(
    table,
    fit_json: dict | None,
    out_path: PathLike,
    *,
    x: str,
    y: str,
    group: Sequence[str] = (),
    y_unit: str | None = None,
) -> list[Path]:
    """Loss vs x for a one-axis fit: seed means with std error bars, the fitted law per group, breaks with their
    95% bands, regimes shaded and exponents annotated (in the legend when there are several groups).

    `table` is a DataFrame, a `scaling.analysis.table.Table` or a path; `fit_json` a `scaling fit` JSON (None or no
    fits: the data alone, one series per group). This is what `scaling fit --plot OUT.pdf` draws."""
    fits = list((fit_json or {}).get("fits") or [])
    points = seed_summary(as_frame(table), [*group, x], y)
    keys = points[list(group)].drop_duplicates().itertuples(index=False, name=None) if group else [()]
    series = fits or [{"group": dict(zip(group, key))} for key in keys]
    colours, markers, linestyles, order = _series_styles(series)
    with style.paper_style():
        fig, axes = style.figure("column" if len(series) == 1 else 4.6, aspect=0.72 if len(series) > 1 else 0.8)
        ax = axes[0, 0]
        ax.set_xscale("log")
        ax.set_yscale("log")
        xs = points[x].to_numpy(float)
        ax.set_xlim(*_padded(xs.min(), xs.max()))
        _compact_log_axis(ax.xaxis, *ax.get_xlim())
        dense = np.geomspace(*ax.get_xlim(), 300)
        handles, labels = [], []
        any_drawn = any_unresolved = worded = False
        for i in order:
            entry, colour, marker, linestyle = series[i], colours[i], markers[i], linestyles[i]
            data = select_group(points, entry.get("group"))
            yerr = data["std"] if data["std"].max() > 0 else None
            ax.errorbar(data[x], data["mean"], yerr=yerr, fmt=marker, color=colour, ms=3, lw=0.8, zorder=3)
            if "law" in entry:
                ax.plot(dense, evaluate_fit(entry, dense), color=colour, lw=1.1, ls=linestyle, zorder=2)
            breaks = entry.get("breaks") or []
            cis = entry.get("breaks_ci95") or [None] * len(breaks)
            unresolved = 0
            for j, (value, ci) in enumerate(zip(breaks, cis)):
                band = _interval(value, ci, (entry.get("stderr") or {}).get(f"d{j + 1}"))
                if not _resolved(band, data[x].to_numpy(float)):
                    unresolved += 1  # a break the data cannot place: drawing it would claim a regime change
                    continue
                any_drawn = True
                if len(series) <= 3:
                    _mark_break(ax, value, band, colour=colour if len(series) > 1 else "0.25")
                else:  # many curves: full-height bands would pile up, so mark each break on its own curve
                    at = float(evaluate_fit(entry, np.array([value]))[0])
                    xerr = None if band is None else [[value - band[0]], [band[1] - value]]
                    ax.errorbar([value], [at], xerr=xerr, fmt="D", ms=3.5, mfc="white", mec=colour, ecolor=colour,
                                elinewidth=1.4, capsize=2.5, zorder=4)
            label = group_label(entry.get("group"), keys=False) or ("fit" if "law" in entry else "data")
            exps = entry.get("exponents") or []
            if len(series) > 1 and unresolved and "law" in entry:  # regimes the data cannot tell apart: one slope
                label += f": {_mean_slope(entry, data[x].to_numpy(float)):.2f}"
            elif len(series) > 1 and exps:
                label += ": " + r" $\to$ ".join(f"{e:.2f}" for e in exps)
            if unresolved:
                label += r"$^\dagger$"
                any_unresolved = True
            elif "law" in entry and (words := describe_breaks(entry, data[x].to_numpy(float), x, False)):
                label += "\n" + words  # a resolved break: say which regime each side is
                worded = True
            handles.append(Line2D([], [], color=colour, marker=marker, ms=3, ls=linestyle,
                                  lw=1.1 if "law" in entry else 0))
            labels.append(label)
        if len(fits) == 1 and not any_unresolved:
            _shade_regimes(ax, fits[0].get("breaks") or [], fits[0].get("exponents") or [], r"$\alpha$")
        _log_ticks(ax, "y", *ax.get_ylim())
        ax.set_xlabel(style.axis_label(x))
        ax.set_ylabel(style.axis_label(y, y_unit))
        if any_drawn:
            if len(series) <= 3:
                handles.append(Patch(color="0.25", alpha=style.BAND_ALPHA * 2))
            else:
                handles.append(Line2D([], [], marker="D", ms=3.5, mfc="white", mec="0.25", color="0.25", lw=1.4))
            labels.append("break, 95% band")
        if any_unresolved:
            handles.append(Line2D([], [], lw=0))
            labels.append(r"$^\dagger$break not resolved (its 95% band leaves < 2 points on a side):" "\n"
                          "mean slope of the fit over the data")
        if len(series) > 1:
            title = ", ".join(group)
            title = f"{title} (exponents)" if fits and title else title
            if len(series) <= 3 and not worded and not any_unresolved:
                style.legend_outside(ax, handles, labels, title=title)
            else:  # many curves, or words (regimes, the footnote): beside the axes they would squeeze them
                fig.legend(handles, labels, title=title, loc="outside lower center", ncol=1 if worded else 2,
                           fontsize=6.5)
        else:
            ax.legend(handles, labels, loc="lower left")
        return style.save_figure(fig, out_path)


# ------------------------------------------------------------------------------------------------ two-axis figures
def _points_frame(entry: dict) -> pd.DataFrame:
    return pd.DataFrame(entry["points"])


class _SeriesColours:
    """Colours for one curve per N (or per D) across panels. When every panel has the same few values (<= 10) each
    value gets its own colour and a legend entry; otherwise colour follows log N on a shared colour bar."""

    def __init__(self, value_sets: list[np.ndarray]):
        first = value_sets[0]
        self.discrete = len(first) <= 10 and all(np.array_equal(first, other) for other in value_sets)
        self.cmap = style.sequential_cmap()
        everything = np.concatenate(value_sets)
        self.norm = LogNorm(everything.min(), everything.max() if everything.max() > everything.min() else
                            everything.min() * 1.01)
        if self.discrete:
            self._lookup = dict(zip(first.tolist(), style.ordered_colors(len(first), self.cmap)))

    def __call__(self, value: float) -> str:
        if self.discrete:
            return self._lookup[float(value)]
        return to_hex(self.cmap(self.norm(value)))

    def curve_values(self, values: np.ndarray) -> np.ndarray:
        """The values to draw a fitted curve for: all of them when few, else six spread in log."""
        return values if len(values) <= 10 else np.geomspace(values.min(), values.max(), 6)

    def colorbar(self, fig, axes, label: str) -> None:
        """The shared colour bar of the continuous mode, to the right of the panels."""
        bar = fig.colorbar(ScalarMappable(self.norm, self.cmap), ax=list(axes), pad=0.01, fraction=0.04, aspect=30)
        bar.set_label(label)
        _compact_log_axis(bar.ax.yaxis, self.norm.vmin, self.norm.vmax)


def _interval_text(value: float, band: tuple[float, float] | None) -> str:
    """"$D_c$ = 32.6k [32.1k, 33.1k]": the break and its 95% interval, for a panel title."""
    text = f"$D_c$ = {style.compact_number(value)}"
    if band is not None:
        text += f" [{style.compact_number(band[0])}, {style.compact_number(band[1])}]"
    return text


def plot_slices(fit_json: dict, out_path: PathLike, *, axis: str = "D", y_label: str | None = None) -> list[Path]:
    """(a) loss vs D with one curve per N (axis="D"), or (b) loss vs N with one curve per D (axis="N"), for each
    fitted group: seed means with std error bars, the fitted surface's slices, the data break Dc with its 95% band
    (shaded, and written beside the line), the regimes on either side shaded with their exponents, and each curve's
    crossover point D_x(N)."""
    fits = fit_json["fits"]
    columns = fit_json.get("columns", {})
    along, across = ("d", "n") if axis == "D" else ("n", "d")
    frames = [_points_frame(entry) for entry in fits]
    colours = _SeriesColours([np.sort(frame[across].unique()) for frame in frames])
    with style.paper_style():
        fig, axes = _panels(len(fits), aspect=0.78)
        any_band = any_crossover = False
        for ax, entry, pts in zip(axes, fits, frames):
            law = law_of_fit(entry)
            theta = theta_of_fit(law, entry)
            values = np.sort(pts[across].unique())
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(*_padded(pts[along].min(), pts[along].max()))
            _compact_log_axis(ax.xaxis, *ax.get_xlim())
            dense = np.geomspace(*ax.get_xlim(), 200)
            for value in values:
                rows = pts[pts[across] == value].sort_values(along)
                yerr = rows["std"] if rows["std"].max() > 0 else None
                ax.errorbar(rows[along], rows["y"], yerr=yerr, fmt="o", color=colours(value), ms=2.6, lw=0.7,
                            zorder=3, label=style.compact_number(value))
            # the crossover D_x(N) of a data N, drawn with its band only where it is resolved inside the data D
            crossings = {n: (d, band) for n, d, band in crossover_at(entry, values) if axis == "D"
                         and _resolved(band, pts.loc[pts[across] == n, along].to_numpy(float))}
            for value in colours.curve_values(values):
                fixed = np.full_like(dense, value)
                grid = np.column_stack([fixed, dense] if axis == "D" else [dense, fixed])
                ax.plot(dense, law.evaluate(grid, theta), color=colours(value), lw=1.0, zorder=2)
                if float(value) in crossings:
                    d_cross, band = crossings[float(value)]
                    y_cross = law.evaluate(np.array([[value, d_cross]]), theta)[0]
                    ax.errorbar([d_cross], [y_cross], xerr=[[d_cross - band[0]], [band[1] - d_cross]], fmt="D",
                                ms=3.2, mfc="white", mec=colours(value), mew=0.9, ecolor=colours(value),
                                elinewidth=1.0, capsize=2, zorder=4)
                    any_crossover = True
            exps = entry.get("exponents") or {}
            title_parts = [group_label(entry.get("group"))]
            if axis == "D":
                breaks = entry.get("breaks") or []
                cis = entry.get("breaks_ci95") or [None] * len(breaks)
                resolved = True
                for value, ci in zip(breaks, cis):
                    band = _interval(value, ci, (entry.get("stderr") or {}).get("Dc"))
                    if _resolved(band, pts[along].to_numpy(float)):
                        any_band = True
                        _mark_break(ax, value, band)
                        title_parts.append(_interval_text(value, band))
                    else:  # the data cannot place it: no line, no regimes, and the title says so
                        resolved = False
                        title_parts.append(_interval_text(value, band) + ", not resolved")
                if resolved:
                    _shade_regimes(ax, breaks, exps.get("D", []), r"$\alpha_D$")
            else:
                _shade_regimes(ax, [], exps.get("N", []), r"$\alpha_N$")
            _log_ticks(ax, "y", *ax.get_ylim())
            ax.set_xlabel(style.axis_label(columns.get(along, axis)))
            ax.set_ylabel(y_label or style.axis_label(columns.get("y", "loss")))
            ax.set_title(": ".join(part for part in title_parts if part))
        extra = []
        if any_band:
            extra.append((Patch(color="0.25", alpha=style.BAND_ALPHA * 2), "$D_c$, 95% band"))
        if any_crossover:
            extra.append((Line2D([], [], marker="D", ms=3.2, mfc="white", mec="0.2", ls=""),
                          "crossover $D_\\times(N)$ and its 95% band: data-limited left of it, capacity-limited right"))
        if colours.discrete:
            handles, labels = axes[-1].get_legend_handles_labels()
            style.legend_outside(axes[-1], [*handles, *(h for h, _ in extra)], [*labels, *(t for _, t in extra)],
                                 title="$N$" if axis == "D" else "$D$")
        else:
            colours.colorbar(fig, axes, style.axis_label(columns.get(across, across.upper())))
            if extra:
                fig.legend([h for h, _ in extra], [t for _, t in extra], loc="outside lower center", ncol=len(extra))
        return style.save_figure(fig, out_path)


def _iso_levels(lo: float, hi: float) -> np.ndarray:
    """Round loss values strictly inside (lo, hi) for the iso-loss lines."""
    ticks = ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    inside = ticks[(ticks > lo * 1.02) & (ticks < hi * 0.98)]
    return inside if len(inside) >= 2 else np.geomspace(lo, hi, 6)[1:-1]


def _label_positions(lines, ax, avoid: np.ndarray) -> list[tuple[float, float]]:
    """One label per iso-loss line, at the point of the line farthest from the data points and drawn lines
    (`avoid`, [m, 2] in data coordinates) and away from the panel's edges."""
    positions = []
    to_axes = ax.transData + ax.transAxes.inverted()
    obstacles = to_axes.transform(avoid) if len(avoid) else np.zeros((0, 2))
    for segments in lines.allsegs:
        best, best_score = None, -np.inf
        for segment in segments:
            if len(segment) == 0:
                continue
            frac = to_axes.transform(segment)
            inside = np.all((frac > 0.1) & (frac < 0.9), axis=1)
            if not inside.any():
                continue
            if len(obstacles):
                gaps = np.min(np.linalg.norm(frac[:, None, :] - obstacles[None, :, :], axis=2), axis=1)
            else:
                gaps = np.ones(len(frac))
            score = np.where(inside, gaps, -np.inf)
            i = int(np.argmax(score))
            if score[i] > best_score:
                best, best_score = tuple(segment[i]), score[i]
        if best is not None:
            positions.append(best)
    return positions


def _dense_path(xs: Sequence[float], ys: Sequence[float], count: int = 60) -> np.ndarray:
    """Points along a line given by its vertices, interpolated in log space: [count, 2]."""
    t = np.linspace(0.0, 1.0, count)
    knots = np.linspace(0.0, 1.0, len(xs))
    return np.column_stack([np.exp(np.interp(t, knots, np.log(xs))), np.exp(np.interp(t, knots, np.log(ys)))])


def _name_regimes(ax, crossover: dict) -> None:
    """Write "data-limited" in the corner of the panel where D < D_x(N) (few data for the model's size) and
    "capacity-limited" where D > D_x(N), when the crossover line separates the two inside the panel."""
    (d_lo, d_hi), (n_lo, n_hi) = ax.get_xlim(), ax.get_ylim()
    log_n, log_d = np.log(crossover["n"]), np.log(crossover["d"])

    def data_limited(d: float, n: float) -> bool:
        return math.log(d) < float(np.interp(math.log(n), log_n, log_d))

    halo = [patheffects.withStroke(linewidth=2.0, foreground="0.15")]
    corners = (((0.03, 0.97), (d_lo, n_hi), "left", "top"), ((0.97, 0.03), (d_hi, n_lo), "right", "bottom"))
    sides = [(at, ha, va, data_limited(*corner)) for at, corner, ha, va in corners]
    if sides[0][3] == sides[1][3]:
        return  # one regime only in view: nothing to tell apart
    for at, ha, va, is_data in sides:
        ax.text(*at, "data-limited" if is_data else "capacity-limited", transform=ax.transAxes, ha=ha, va=va,
                fontsize=6.5, color="white", path_effects=halo, zorder=4.5)  # under the data points


def plot_surface(fit_json: dict, out_path: PathLike, *, y_label: str | None = None) -> list[Path]:
    """(c) the fitted L(N, D): filled contours on log axes (x = D, y = N), labelled iso-loss lines at round values,
    the data points coloured by their residual ln(L_obs / L_fit) on a diverging scale of their own (white: on the
    surface; red: above it; blue: below), edged so they read on any background, the crossover line D_x(N), and for
    laws with a compute-optimal frontier the path (D_opt(C), N_opt(C)). The legend lists a line only where it shows
    inside the grid."""
    fits = fit_json["fits"]
    columns = fit_json.get("columns", {})
    cmap = style.sequential_cmap()
    frames = [_points_frame(entry) for entry in fits]
    residuals = [np.log(pts["y"].to_numpy(float) / evaluate_fit(entry, pts[["n", "d"]].to_numpy(float)))
                 for entry, pts in zip(fits, frames)]
    limit = max(0.05, float(np.nanmax(np.abs(np.concatenate(residuals)))))
    residual_norm = Normalize(-limit, limit)
    drawn = {"crossover": False, "optimal": False}
    with style.paper_style():
        fig, axes = _panels(len(fits), aspect=0.9)
        for ax, entry, pts, residual in zip(axes, fits, frames, residuals):
            law = law_of_fit(entry)
            theta = theta_of_fit(law, entry)
            d_lo, d_hi = _padded(pts["d"].min(), pts["d"].max(), 0.08)
            n_lo, n_hi = _padded(pts["n"].min(), pts["n"].max(), 0.08)
            dd, nn = np.meshgrid(np.geomspace(d_lo, d_hi, 160), np.geomspace(n_lo, n_hi, 160))
            surface = law.evaluate(np.column_stack([nn.ravel(), dd.ravel()]), theta).reshape(dd.shape)
            lo, hi = surface.min(), surface.max()
            norm = LogNorm(lo, hi)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(d_lo, d_hi)
            ax.set_ylim(n_lo, n_hi)
            filled = ax.contourf(dd, nn, surface, levels=np.geomspace(lo, hi, 15), norm=norm, cmap=cmap)
            lines = ax.contour(dd, nn, surface, levels=_iso_levels(lo, hi), colors="white", linewidths=0.7)
            ax.scatter(pts["d"], pts["n"], c=residual, norm=residual_norm, cmap=style.DIVERGING_CMAP, s=18,
                       edgecolors="black", linewidths=0.8, zorder=5)
            avoid = [pts[["d", "n"]].to_numpy(float)]
            crossover = entry.get("crossover") or {}
            if crossover.get("n") and _inside_view(ax, crossover["d"], crossover["n"]):
                ax.plot(crossover["d"], crossover["n"], color="#E69F00", lw=1.5, ls="--", zorder=4)
                avoid.append(_dense_path(crossover["d"], crossover["n"]))
                drawn["crossover"] = True
                _name_regimes(ax, crossover)
            optimal = entry.get("compute_optimal") or {}
            if optimal.get("n_opt") and _inside_view(ax, optimal["d_opt"], optimal["n_opt"]):
                ax.plot(optimal["d_opt"], optimal["n_opt"], color="#CC79A7", lw=1.5, zorder=4)
                avoid.append(_dense_path(optimal["d_opt"], optimal["n_opt"]))
                drawn["optimal"] = True
            ax.clabel(lines, fmt=lambda v: f"{v:g}", fontsize=6, inline=True, inline_spacing=3,
                      manual=_label_positions(lines, ax, np.concatenate(avoid)))
            ax.set_xlim(d_lo, d_hi)
            ax.set_ylim(n_lo, n_hi)
            _compact_log_axis(ax.xaxis, d_lo, d_hi)
            _compact_log_axis(ax.yaxis, n_lo, n_hi)
            for spine in ("top", "right"):
                ax.spines[spine].set_visible(True)
            ax.set_xlabel(style.axis_label(columns.get("d", "D")))
            ax.set_ylabel(style.axis_label(columns.get("n", "N")))
            ax.set_title(group_label(entry.get("group")))
            bar = fig.colorbar(filled, ax=ax, pad=0.02, fraction=0.06)
            bar.set_label(f"fitted {y_label or style.axis_label(columns.get('y', 'loss')).splitlines()[0]}")
            ticks = _round_log_ticks(lo, hi)
            bar.set_ticks(ticks, labels=[f"{v:g}" for v in ticks])
            bar.ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        points_bar = fig.colorbar(ScalarMappable(residual_norm, style.DIVERGING_CMAP), ax=list(axes),
                                  location="bottom", shrink=0.4, aspect=35, pad=0.02)
        points_bar.set_label(r"data points: residual $\ln(L_{obs}/L_{fit})$")
        iso = Line2D([], [], color="white", lw=0.9, path_effects=[patheffects.withStroke(linewidth=2.2, foreground="0.4")])
        handles = [Line2D([], [], marker="o", ls="", mfc="white", mec="black", mew=0.8, ms=4), iso]
        labels = ["data, coloured by residual (bar above)", "iso-loss"]
        if drawn["crossover"]:
            handles.append(Line2D([], [], color="#E69F00", lw=1.5, ls="--"))
            labels.append("crossover $D_\\times(N)$: data term = parameter term")
        if drawn["optimal"]:
            handles.append(Line2D([], [], color="#CC79A7", lw=1.5))
            labels.append("compute-optimal $(D_{opt}, N_{opt})(C)$")
        definition = None if y_label else style.loss_definition(columns.get("y", ""))
        if definition:  # a surface has no loss axis: the legend says what the loss is
            handles.append(Line2D([], [], lw=0))
            labels.append(f"loss = {definition}")
        ncol = min(len(handles), 3 if len(fits) > 1 else 2)
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=6.5)
        return style.save_figure(fig, out_path)


def plot_residuals(fit_json: dict, out_path: PathLike, *, table: pd.DataFrame | None = None, x: str | None = None,
                   y: str | None = None, group: Sequence[str] = ()) -> list[Path]:
    """(d) ln(observed / fitted) per seed-averaged point, with the seed spread as error bars. Two-axis fits: against
    D, coloured by N (points at one D spread slightly sideways so they do not hide each other), one panel per group.
    One-axis fits (pass `table`, `x`, `y`, `group`): against x, one colour per group."""
    fits = fit_json["fits"]
    two_axis = fit_kind(fit_json) == "fit2d"
    columns = fit_json.get("columns", {})
    with style.paper_style():
        if two_axis:
            frames = [_points_frame(entry) for entry in fits]
            colours = _SeriesColours([np.sort(frame["n"].unique()) for frame in frames])
            fig, axes = _panels(len(fits), aspect=0.62)
            for ax, entry, pts in zip(axes, fits, frames):
                fitted = evaluate_fit(entry, pts[["n", "d"]].to_numpy(float))
                values = np.sort(pts["n"].unique())
                dodge = _dodge(len(values)) if len(values) <= 10 else np.ones(len(values))
                for value, shift in zip(values, dodge):
                    rows = (pts["n"] == value).to_numpy()
                    _residual_series(ax, pts.loc[rows, "d"] * shift, pts.loc[rows, "y"], pts.loc[rows, "std"],
                                     fitted[rows], colours(value), style.compact_number(value))
                ax.set_title(group_label(entry.get("group")))
                ax.set_xlabel(style.axis_label(columns.get("d", "D")))
        else:
            fig, grid = style.figure("column", aspect=0.62)
            axes = [grid[0, 0]]
            summary = seed_summary(as_frame(table), [*group, x], y)
            dodge = _dodge(len(fits))
            for colour, shift, entry in zip(style.categorical_colors(len(fits)), dodge, fits):
                rows = select_group(summary, entry.get("group"))
                fitted = evaluate_fit(entry, rows[x].to_numpy(float))
                _residual_series(axes[0], rows[x] * shift, rows["mean"], rows["std"], fitted, colour,
                                 group_label(entry.get("group")) or "fit")
            axes[0].set_xlabel(style.axis_label(x))
        for ax in axes:
            ax.set_xscale("log")
            ax.axhline(0.0, color="0.3", lw=0.7, zorder=1)
            ax.set_ylabel(r"residual $\ln(L_{obs}/L_{fit})$")
        if two_axis and not colours.discrete:
            colours.colorbar(fig, axes, style.axis_label(columns.get("n", "N")))
        else:
            style.legend_outside(axes[-1], title="$N$" if two_axis else (", ".join(group) or None))
        return style.save_figure(fig, out_path)


def _dodge(count: int, step: float = 0.012) -> np.ndarray:
    """Multiplicative sideways offsets on a log axis (about +-3% for 7 series) so markers at one x stay apart."""
    return 10 ** (step * (np.arange(count) - (count - 1) / 2))


def _residual_series(ax, xs, observed, std, fitted, colour, label) -> None:
    observed = np.asarray(observed, float)
    residual = np.log(observed / np.asarray(fitted, float))
    std = np.asarray(std, float)
    ax.errorbar(np.asarray(xs, float), residual, yerr=std / observed if std.max() > 0 else None, fmt="o", ms=2.6,
                lw=0.7, color=colour, label=label)


def plot_exponents(fit_json: dict, out_path: PathLike) -> list[Path]:
    """(e) the fitted exponent per N with 95% intervals.

    Two-axis fits: the local data exponent -dlnL/dlnD of the fitted surface at the smallest and at the largest D of
    the data, for every N of the data (intervals from the bootstrap when it ran), with the law's asymptotic data
    exponents as dotted lines. One-axis fits grouped by one numeric column (e.g. `--group n_params`): each regime's
    exponent per group, with intervals from `exponents_ci95` when present, else +-1.96 standard errors."""
    fits = fit_json["fits"]
    two_axis = fit_kind(fit_json) == "fit2d"
    columns = fit_json.get("columns", {})
    with style.paper_style():
        if two_axis:
            fig, axes = _panels(len(fits), aspect=0.7)
            for ax, entry in zip(axes, fits):
                _exponents_2d(ax, entry, columns)
            handles, labels = axes[-1].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncol=len(handles))
        else:
            fig, grid = style.figure("column", aspect=0.7)
            ax = grid[0, 0]
            _exponents_1d(ax, fits)
            ax.legend(loc="best")
        return style.save_figure(fig, out_path)


def _exponents_2d(ax, entry: dict, columns: dict) -> None:
    per_n = entry["data_exponent_per_n"]
    n = np.asarray(per_n["n"], float)
    offsets = (0.97, 1.03)
    for k, (key, colour) in enumerate((("low", _REGIME_COLORS[0]), ("high", _REGIME_COLORS[1]))):
        value = np.asarray(per_n[key], float)
        ci = per_n.get(f"{key}_ci95")
        yerr = None
        if ci:
            ci = np.asarray(ci, float)
            yerr = np.abs(np.vstack([value - ci[:, 0], ci[:, 1] - value]))
        d_value = per_n[f"d_{key}"]
        ax.errorbar(n * offsets[k], value, yerr=yerr, fmt="o-", ms=3, lw=0.9, color=colour,
                    label=f"at $D$ = {style.compact_number(d_value)} (95% CI)" if yerr is not None else
                    f"at $D$ = {style.compact_number(d_value)}")
    asymptotic = (entry.get("exponents") or {}).get("D", [])
    if "exponent_guides" in (entry.get("withheld") or {}):  # unidentified parameters or an unresolved break
        asymptotic = []
    for i, value in enumerate(asymptotic):
        name = f"D{i + 1}" if len(asymptotic) > 1 else "D"
        ax.axhline(value, color=_REGIME_COLORS[i % 2], lw=0.8, ls=":")
        ax.text(1.0, value, f" $\\alpha_{{{name}}}$", transform=ax.get_yaxis_transform(), va="center", fontsize=6.5,
                color=_REGIME_COLORS[i % 2])
    ax.set_xscale("log")
    ax.set_xlabel(style.axis_label(columns.get("n", "N")))
    ax.set_ylabel(r"data exponent $-\partial\ln L/\partial\ln D$")
    ax.set_title(group_label(entry.get("group")))
    ax.set_ylim(bottom=0)
    _compact_log_axis(ax.xaxis, *ax.get_xlim())


def _exponents_1d(ax, fits: list[dict]) -> None:
    values = [numeric_group_value(f.get("group")) for f in fits]
    if any(v is None for v in values):
        raise ValueError("an exponent-per-N figure needs a one-axis fit grouped by one numeric column (e.g. n_params)")
    order = np.argsort(values)
    n = np.asarray(values, float)[order]
    regimes = max(len(f.get("exponents") or []) for f in fits)
    for r in range(regimes):
        exps, lows, highs = [], [], []
        for i in order:
            entry = fits[i]
            e = (entry.get("exponents") or [np.nan] * regimes)[r] if r < len(entry.get("exponents") or []) else np.nan
            ci = (entry.get("exponents_ci95") or [None] * regimes)[r] if entry.get("exponents_ci95") else None
            if ci is None:
                names = ["c0", *[f"c{j}" for j in range(1, r + 1)]] if "c0" in entry["params"] else ["c"]
                se = [(entry.get("stderr") or {}).get(name) for name in names]
                spread = 1.96 * math.sqrt(sum(s * s for s in se)) if all(s is not None for s in se) else np.nan
                ci = (e - spread, e + spread)
            exps.append(e)
            lows.append(e - ci[0])
            highs.append(ci[1] - e)
        label = ("below break", "above break", "after break 2", "after break 3")[r] if regimes > 1 else "exponent"
        ax.errorbar(n * (0.97 + 0.06 * r / max(regimes - 1, 1)), exps, yerr=[lows, highs], fmt="o-", ms=3, lw=0.9,
                    color=_REGIME_COLORS[r % 4], label=label)
    ax.set_xscale("log")
    column = next(iter(fits[0]["group"]))
    ax.set_xlabel(style.axis_label(column))
    ax.set_ylabel(r"fitted exponent $\alpha$")


def plot_fit2d_all(fit_json: dict, out_path: PathLike) -> list[Path]:
    """All two-axis figures for `scaling fit2d --plot OUT.pdf`: OUT (surface), OUT_data (loss vs D), OUT_params
    (loss vs N), OUT_residuals, OUT_exponents and OUT_frontier (IsoFLOP and frontier, scaling.plot.frontier), each
    as PDF and PNG."""
    pdf, _ = style.output_paths(out_path)
    stem = pdf.with_suffix("")
    written = plot_surface(fit_json, stem)
    written += plot_slices(fit_json, f"{stem}_data", axis="D")
    written += plot_slices(fit_json, f"{stem}_params", axis="N")
    written += plot_residuals(fit_json, f"{stem}_residuals")
    if all("data_exponent_per_n" in entry for entry in fit_json["fits"]):
        written += plot_exponents(fit_json, f"{stem}_exponents")
    from scaling.plot.frontier import has_compute_view, plot_frontier

    if has_compute_view(fit_json):
        written += plot_frontier(fit_json, f"{stem}_frontier")
    return written
