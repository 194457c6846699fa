"""Figures of the use-case metrics of a sweep: each metric against D (one curve per arch and N) beside each metric
against N (one curve per arch and D), and the loss-metric rank correlations with their bootstrap intervals."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from scaling.plot.style import (axis_label, categorical_colors, compact_number, figure, ordered_colors, paper_style,
                                save_figure)

_LINESTYLES = ("-", "--", ":", "-.")
METRIC_LABELS = {
    "lattice_constant_error_pct": "lattice constant error (%)",
    "bulk_modulus_error_pct": "bulk modulus error (%)",
    "c11_error_pct": "C11 error (%)", "c12_error_pct": "C12 error (%)", "c44_error_pct": "C44 error (%)",
    "vacancy_formation_error_ev": "vacancy formation error (eV)",
    "surface_energy_error_pct": "surface energy error (%)",
    "hot_force_mae_ev_a": "hot-structure force MAE (eV/A)",
    "force_softening": "force softening slope", "force_softening_error": "|1 - softening slope|",
    "md_failure_temperature_k": "MD failure temperature (K)",
    "nve_drift_mev_atom_ps": "NVE drift error (meV/atom/ps)",
}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def _series(ax, table: pd.DataFrame, x: str, curve: str, metric: str) -> None:
    """Seed mean (markers and lines) with the seeds' spread as error bars; one colour per `curve` value, one line
    style per architecture."""
    archs = sorted(table["arch"].dropna().unique()) if "arch" in table.columns else [None]
    values = sorted(table[curve].dropna().unique())
    colours = ordered_colors(len(values))
    for a, arch in enumerate(archs):
        part = table if arch is None else table[table["arch"] == arch]
        for value, colour in zip(values, colours):
            rows = part[part[curve] == value]
            stats = rows.groupby(x)[metric].agg(["mean", "std"]).dropna(subset=["mean"])
            if stats.empty:
                continue
            label = f"{arch or ''} {'N' if curve == 'n_params' else 'D'}={compact_number(value)}".strip()
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), color=colour, marker="o",
                        markersize=3, linestyle=_LINESTYLES[a % len(_LINESTYLES)], capsize=2, label=label)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # decade labels only: minor labels collide on short ranges
    finite = table[metric][np.isfinite(table[metric])]
    if len(finite) and (finite > 0).all() and finite.max() / finite.min() > 20:
        ax.set_yscale("log")


def metric_figures(table: pd.DataFrame, metrics: list[str], out_dir: str | os.PathLike) -> list[Path]:
    """One figure per metric (OUT_DIR/metric_<name>.pdf/.png): against D per N (left), against N per D (right)."""
    table = table[table["status"] == "done"] if "status" in table.columns else table
    if "params_target" in table.columns:  # one curve per requested N: true counts differ slightly across archs
        table = table.assign(n_params=table["params_target"])
    written = []
    for metric in metrics:
        with paper_style():
            fig, axes = figure("page", aspect=0.36, ncols=2)
            _series(axes[0, 0], table, "train_size", "n_params", metric)
            axes[0, 0].set_xlabel(axis_label("train_size"))
            _series(axes[0, 1], table, "n_params", "train_size", metric)
            axes[0, 1].set_xlabel(axis_label("n_params"))
            for ax in axes[0]:
                ax.set_ylabel(metric_label(metric))
                ax.legend(fontsize="x-small", ncol=2, loc="best")
            written.append(save_figure(fig, Path(out_dir) / f"metric_{metric}.pdf")[0])
    return written


def correlation_figure(document: dict, out_path: str | os.PathLike) -> Path:
    """Rank agreement (Spearman rho, signed so +1 = a lower loss always means a better metric) per metric, with
    its bootstrap 95% interval."""
    rows = [row for row in document["correlations"] if row["rank_agreement"] is not None]
    with paper_style():
        fig, axes = figure("column", aspect=0.2 + 0.065 * max(len(rows), 1))
        ax = axes[0, 0]
        colour = categorical_colors(1)[0]
        for i, row in enumerate(rows):
            sign = 1 if row["better"] == "lower" else -1
            lo, hi = sorted(sign * v for v in row["ci95"]) if None not in row["ci95"] else (np.nan, np.nan)
            ax.plot([lo, hi], [i, i], color=colour, linewidth=1.5)
            ax.plot(row["rank_agreement"], i, "o", color=colour, markersize=4)
        ax.axvline(0, color="0.5", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [metric_label(row["metric"]) for row in rows])
        ax.set_xlim(-1.05, 1.05)
        ax.invert_yaxis()
        ax.set_xlabel(f"rank agreement with {document['loss'].replace('_', ' ')} (Spearman)")
        return save_figure(fig, out_path)[0]
