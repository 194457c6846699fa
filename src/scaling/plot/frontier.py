"""(f) The compute view of a two-axis fit (`scaling fit2d` JSON): per group, the IsoFLOP panel (loss against N in
each compute bin, with the parabola in ln N and its minimum) beside the compute-optimal frontier N_opt(C), D_opt(C)
with its 95% bands and the IsoFLOP minima. What the fit withholds (a frontier resting on an unidentified
parameter) or the grid does not allow (bins with fewer than 3 N) is said in words in the panel, not drawn.
"""

from __future__ import annotations

import os

import numpy as np

from scaling.plot import style
from scaling.plot.data import group_label
from scaling.plot.figures import _compact_log_axis

_N_COLOUR, _D_COLOUR = "#CC79A7", "#009E73"


def has_compute_view(fit_json: dict) -> bool:
    """Whether the JSON carries the compute view (fit2d JSONs written since `isoflop` was added do)."""
    return all("isoflop" in entry for entry in fit_json["fits"])


def plot_frontier(fit_json: dict, out_path: str | os.PathLike) -> list:
    fits = fit_json["fits"]
    with style.paper_style():
        fig, axes = style.figure(width=style.PAGE_WIDTH, aspect=0.42 * len(fits), ncols=2, nrows=len(fits))
        for (iso_ax, front_ax), entry in zip(axes, fits):
            title = group_label(entry.get("group"))
            _isoflop_panel(iso_ax, entry, fit_json.get("columns", {}))
            _frontier_panel(front_ax, entry)
            if title:
                iso_ax.set_title(title)
                front_ax.set_title(title)
        return style.save_figure(fig, out_path)


def _cost_text(entry: dict) -> str:
    cost = entry.get("cost_model") or {"kind": "assumed"}
    if cost["kind"] == "fitted":
        return f"C = {cost['c']:.3g} N^{cost['a']:.2f} D^{cost['b']:.2f} (fitted to {cost['column']})"
    return "C = 6 N D (assumed)"


def _say(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=7, wrap=True)


def _isoflop_panel(ax, entry: dict, columns: dict) -> None:
    iso = entry["isoflop"]
    drawn = [b for b in iso["bins"] if b["parabola"] is not None]
    ax.set_xlabel(style.axis_label(columns.get("n", "N")))
    ax.set_ylabel(style.axis_label(columns.get("y", "loss")).splitlines()[0])
    if not drawn:
        ax.set_xticks([])
        ax.set_yticks([])
        _say(ax, f"IsoFLOP view not possible:\n{iso['note']}")
        return
    colours = style.ordered_colors(len(drawn))
    for colour, b in zip(colours, drawn):
        n = np.asarray(b["n"])
        ax.scatter(n, b["loss"], color=colour, s=10, zorder=3, label=f"C ~ {b['C']:.2g}")
        grid = np.geomspace(n.min(), n.max(), 60)
        ax.plot(grid, np.exp(np.polyval(b["parabola"], np.log(grid))), color=colour, lw=1)
        if b["n_opt"] is not None:
            ax.plot([b["n_opt"]], [np.exp(np.polyval(b["parabola"], np.log(b["n_opt"])))], marker="v", color=colour,
                    ms=5, mec="black", mew=0.5, zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    n_all = np.concatenate([b["n"] for b in drawn])
    _compact_log_axis(ax.xaxis, n_all.min(), n_all.max())
    ax.legend(fontsize=5.5, loc="best", title=f"compute bin ({_cost_text(entry)})", title_fontsize=5.5, ncol=2)


def _frontier_panel(ax, entry: dict) -> None:
    optimal = entry.get("compute_optimal")
    ax.set_xlabel("training compute C")
    ax.set_ylabel("compute-optimal N, D")
    if not optimal:
        reason = (entry.get("withheld") or {}).get("compute_optimal") or f"the law {entry['law']} has none"
        ax.set_xticks([])
        ax.set_yticks([])
        _say(ax, f"compute-optimal frontier withheld:\n{reason}")
        return
    c = np.asarray(optimal["C"])
    for key, colour, label in (("n_opt", _N_COLOUR, "$N_{opt}(C)$"), ("d_opt", _D_COLOUR, "$D_{opt}(C)$")):
        ax.plot(c, optimal[key], color=colour, lw=1.5, label=label)
        band = optimal.get(f"{key}_ci95")
        if band and all(None not in pair for pair in band):
            lo, hi = np.asarray(band, dtype=float).T
            ax.fill_between(c, lo, hi, color=colour, alpha=style.BAND_ALPHA, lw=0, label=f"{label} 95% band")
    found = [b for b in entry["isoflop"]["bins"] if b["n_opt"] is not None]
    if found:
        ax.plot([b["C"] for b in found], [b["n_opt"] for b in found], ls="", marker="v", color=_N_COLOUR,
                mec="black", mew=0.5, ms=5, label="IsoFLOP $N_{opt}$ (data)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend(fontsize=5.5, loc="best", title=_cost_text(entry), title_fontsize=5.5)
