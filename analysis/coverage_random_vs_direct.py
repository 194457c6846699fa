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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("random_run", type=Path)
    parser.add_argument("direct_run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/coverage"))
    parser.add_argument("--y", default="test_energy_mae", help="loss column (eV/atom for energies)")
    args = parser.parse_args()

    import pandas as pd

    from scaling.plot.style import categorical_colors, figure, paper_style, save_figure
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
    colors = dict(zip(("random", "coverage"), categorical_colors(2)))
    with paper_style():
        fig, axes = figure("page", aspect=0.3, ncols=3)
        cov_ax, d_ax, c_ax = axes[0]
        for sampler, curve in curves.items():
            cov_ax.plot(curve["train_size"], curve["mean"], "o-", color=colors[sampler], label=sampler, ms=3)
            cov_ax.fill_between(curve["train_size"], curve["min"], curve["max"], color=colors[sampler], alpha=0.2)
        for sampler, rows in done.groupby("sampler"):
            mean = rows.groupby("train_size")[args.y].mean()
            d_ax.plot(rows["train_size"], rows[args.y], "o", color=colors[sampler], alpha=0.35, ms=3)
            d_ax.plot(mean.index, mean.values, "-", color=colors[sampler], label=sampler)
            c_ax.plot(rows["coverage"], rows[args.y], "o", color=colors[sampler], ms=3, label=sampler)
        cov_ax.set(xscale="log", xlabel="training structures D", ylabel="coverage (fraction of env. clusters)")
        d_ax.set(xscale="log", yscale="log", xlabel="training structures D", ylabel="test energy MAE [eV/atom]")
        c_ax.set(yscale="log", xlabel="coverage (fraction of env. clusters)", ylabel="test energy MAE [eV/atom]")
        cov_ax.legend(frameon=False)
        d_ax.legend(frameon=False)
        save_figure(fig, args.out / "random_vs_direct")
    print(done.groupby(["sampler", "train_size"])[[args.y, "coverage"]].mean().to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
