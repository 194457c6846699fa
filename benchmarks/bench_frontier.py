"""Coverage of the compute-optimal frontier's 95% bands on measured compute, and what `--compute` costs.

    python benchmarks/bench_frontier.py [--grids 20] [--bootstrap 200]

On `--grids` synthetic Chinchilla grids (scaling.analysis.synthetic.chinchilla_grid: 5 N x 5 D, 3 seeds with 1%
loss noise, measured compute 40 N^1.2 D^0.9 with 3% jitter), fits `fit2d --compute train_flops` with each bootstrap
method and counts how often the 95% bands of N_opt(C) and D_opt(C) hold the true frontier (9 budgets per grid),
and how often they hold the frontier the true surface has under the assumed 6 N D (which is the wrong cost here).
Also times the same fit without `--compute` and without a bootstrap, back to back in this run (ratios).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from scaling.analysis.derived import CostModel, compute_optimal
from scaling.analysis.fit2d import Fit2DSettings, fit2d_table
from scaling.analysis.laws2d import Chinchilla
from scaling.analysis.synthetic import chinchilla_grid, write_grid

NS, DS = np.geomspace(1e3, 1e5, 5), np.geomspace(1e2, 1e4, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grids", type=int, default=20)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    seconds = {"compute+bootstrap": 0.0, "6ND+bootstrap": 0.0, "compute, no bootstrap": 0.0}
    with tempfile.TemporaryDirectory(prefix="bench-frontier-") as tmp:
        path = Path(tmp) / "grid.csv"
        for method in ("auto", "pairs"):
            hits = {"n_opt": 0, "d_opt": 0}
            hits_6nd, total, exponent = 0, 0, 0
            for seed in range(args.grids):
                grid = chinchilla_grid(np.random.default_rng(1000 + seed), NS, DS)
                write_grid(grid, path)
                began = time.perf_counter()
                entry = fit2d_table(path, "n_params", "train_size", "val_loss", settings=Fit2DSettings(
                    bootstrap=args.bootstrap, bootstrap_method=method, compute="train_flops", seed=seed))["fits"][0]
                seconds["compute+bootstrap"] += time.perf_counter() - began
                if method == "auto":
                    began = time.perf_counter()
                    fit2d_table(path, "n_params", "train_size", "val_loss",
                                settings=Fit2DSettings(bootstrap=args.bootstrap, seed=seed))
                    seconds["6ND+bootstrap"] += time.perf_counter() - began
                    began = time.perf_counter()
                    fit2d_table(path, "n_params", "train_size", "val_loss",
                                settings=Fit2DSettings(compute="train_flops"))
                    seconds["compute, no bootstrap"] += time.perf_counter() - began
                optimal = entry["compute_optimal"]
                if optimal is None:
                    print(f"grid {seed}: frontier withheld ({entry['withheld']['compute_optimal']})")
                    continue
                budgets = np.array(optimal["C"])
                truth = compute_optimal(Chinchilla(), grid.theta, budgets, CostModel(*grid.cost))
                assumed = compute_optimal(Chinchilla(), grid.theta, budgets)
                for key in hits:
                    band = np.array(optimal[f"{key}_ci95"], dtype=float)
                    hits[key] += int(np.sum((band[:, 0] <= truth[key]) & (truth[key] <= band[:, 1])))
                    hits_6nd += int(np.sum((band[:, 0] <= assumed[key]) & (assumed[key] <= band[:, 1])))
                lo, hi = optimal["a_ci95"]
                exponent += int(lo <= truth["a"] <= hi)
                total += len(budgets)
            grids = total // len(budgets)
            print(f"{method}: {grids} grids x {len(budgets)} budgets: N_opt band holds the truth at "
                  f"{hits['n_opt'] / total:.1%}, D_opt at {hits['d_opt'] / total:.1%}; the a interval holds the true "
                  f"a on {exponent}/{grids} grids; bands holding the 6ND frontier: {hits_6nd / (2 * total):.1%}")
    per_fit = {k: v / args.grids for k, v in seconds.items()}
    per_fit["compute+bootstrap"] /= 2  # both methods
    print("seconds per fit: " + ", ".join(f"{k} {v:.2f}" for k, v in per_fit.items())
          + f"; --compute costs x{per_fit['compute+bootstrap'] / per_fit['6ND+bootstrap']:.2f} with a bootstrap")


if __name__ == "__main__":
    main()
