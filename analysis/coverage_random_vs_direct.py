"""Random vs coverage (DIRECT-style) training subsets: coverage vs D, loss vs D and loss vs coverage on one figure.

Inputs: the run folders of experiments/coverage_random.yaml and experiments/coverage_direct.yaml (same EMT pool,
split, model and budget; only the sampler differs). Cells not yet done are left out of the loss panels; the
coverage-vs-D panel needs no training (it is computed from the store for both samplers, 3 seeds).

    scaling sweep run experiments/coverage_random.yaml --out runs/coverage_random
    scaling sweep run experiments/coverage_direct.yaml --out runs/coverage_direct
    python analysis/coverage_random_vs_direct.py runs/coverage_random runs/coverage_direct --out results/coverage
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SIZES = (8, 16, 32, 64, 128, 256, 512)
SEEDS = (0, 1, 2)


def coverage_curves(store: Path) -> dict[str, dict[str, list[float]]]:
    """Mean and spread over seeds of the coverage (fraction of environment clusters) per D, for both samplers."""
    from scaling.data.coverage import load_codebook
    from scaling.data.subsets import load_split, nested_subsets

    codebook = load_codebook(store)
    split = load_split(store)
    sizes = [d for d in SIZES if d <= len(split.train)]
    curves = {}
    for sampler in ("random", "coverage"):
        values = np.array(
            [
                [codebook.coverage(subset).fraction for subset in nested_subsets(store, sizes, seed, sampler, split).values()]
                for seed in SEEDS
            ]
        )
        curves[sampler] = {"train_size": sizes, "mean": values.mean(0).tolist(), "min": values.min(0).tolist(),
                           "max": values.max(0).tolist()}
    return curves


def power_law_fits(table: Path, out: Path) -> dict[tuple[str, str, str], dict]:
    """`scaling fit --law power+floor --group sampler` of each loss against D and against coverage, unweighted in log
    space (two seeds give no usable spread: where both happen to agree, seed-std weights let one point dominate, and
    each seed's subset has its own coverage): {(x, y, sampler): fit JSON entry of L = a + b x^-c}, with the fit
    JSONs written next to the figure. The floor is the error the model and step budget reach with all the data;
    `--select` ranks this law first for three of the four (sampler, loss) curves against D and second, 2.6 AICc
    behind a plain power law, for the coverage sampler's force error."""
    from scaling.analysis.fit1d import FitSettings, fit_table
    from scaling.atomic import atomic_write_json
    from scaling.errors import InputError

    entries = {}
    for x, y in (("train_size", "test_force_mae"), ("train_size", "test_energy_mae"), ("coverage", "test_force_mae")):
        try:
            document = fit_table(str(table), x, y, ["sampler"], "status == 'done'", FitSettings(law="power+floor"))
        except InputError:
            continue
        atomic_write_json(out / f"fit_{y}_vs_{x}.json", document)
        for entry in document["fits"]:
            entries[(x, y, entry["group"]["sampler"])] = entry
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("random_run", type=Path)
    parser.add_argument("direct_run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/coverage"))
    parser.add_argument("--y", default="test_energy_mae", help="loss column (eV/atom for energies)")
    args = parser.parse_args()

    import pandas as pd

    from scaling.plot.data import evaluate_fit
    from scaling.plot.style import axis_label, categorical_colors, figure, paper_style, save_figure
    from scaling.sweep import collect, write_table

    tables = []
    for run, sampler in ((args.random_run, "random"), (args.direct_run, "coverage")):
        table = collect(run)
        table["sampler"] = sampler
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_table(table, args.out / "random_vs_direct.csv")
    curves = coverage_curves(args.random_run / "data" / "store")
    (args.out / "coverage_vs_D.json").write_text(json.dumps(curves, indent=2) + "\n")

    done = table[table["status"] == "done"]
    fits = power_law_fits(args.out / "random_vs_direct.csv", args.out)
    colors = dict(zip(("random", "coverage"), categorical_colors(2)))
    panels = (("train_size", "test_force_mae"), ("train_size", "test_energy_mae"), ("coverage", "test_force_mae"))
    with paper_style():
        fig, axes = figure("page", aspect=0.62, ncols=2, nrows=2)
        cov_ax, *loss_axes = axes.ravel()
        for sampler, curve in curves.items():
            cov_ax.plot(curve["train_size"], curve["mean"], "o-", color=colors[sampler], label=sampler, ms=3)
            cov_ax.fill_between(curve["train_size"], curve["min"], curve["max"], color=colors[sampler], alpha=0.2)
        cov_ax.set(xscale="log", xlabel=axis_label("train_size"), ylabel="coverage (fraction of pool clusters)",
                   title="(a) environments reached")
        for ax, (x, y), letter in zip(loss_axes, panels, "bcd"):
            for sampler, rows in done.groupby("sampler"):
                ax.plot(rows[x], rows[y], "o", color=colors[sampler], alpha=0.3, ms=2.5, mew=0)
                means = rows.groupby("train_size")[[x, y]].agg(["mean", "std"])
                ax.errorbar(means[(x, "mean")], means[(y, "mean")], yerr=means[(y, "std")], fmt="o",
                            color=colors[sampler], ms=3.5, lw=0.8, capsize=1.5)
                entry = fits.get((x, y, sampler))
                label = sampler
                if entry is not None:
                    dense = np.geomspace(rows[x].min(), rows[x].max(), 200)
                    ax.plot(dense, evaluate_fit(entry, dense), "-", color=colors[sampler], lw=1.1)
                    label += f": c = {entry['exponents'][0]:.2f}"
                ax.plot([], [], "o-", color=colors[sampler], ms=3.5, lw=1.1, label=label)
            ax.set(xscale="log", yscale="log", ylabel=axis_label(y),
                   xlabel=axis_label(x) if x == "train_size" else "coverage (fraction of pool clusters)",
                   title=f"({letter}) test {'force' if 'force' in y else 'energy'} error vs "
                         f"{'D' if x == 'train_size' else 'coverage'}")
            ax.legend(frameon=False, fontsize=6.5, title="seed mean $\\pm$ std; fit $a + b\\,x^{-c}$",
                      title_fontsize=6.5)
        cov_ax.legend(frameon=False)
        save_figure(fig, args.out / "random_vs_direct")
    summary = done.groupby(["sampler", "train_size"])[["test_force_mae", "test_energy_mae", "coverage"]].mean()
    print(summary.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
