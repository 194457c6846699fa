"""Speed of two-axis fits on the OptiMetal 294-row grid (2 models x 49 points x 3 seeds).

Prints: a multi-start kaplan-broken fit of the whole grid (both models), the same with --bootstrap 200, and the
reference timed in the same run: scipy curve_fit from the published single start (no multi-start), as a ratio.
Run: python benchmarks/bench_fit2d_grid.py
"""

from __future__ import annotations

import time

import numpy as np

from scaling.analysis.fit2d import Fit2DSettings, fit2d_table
from scaling.analysis.table import curves, read_table
from scaling.reference import reference_data_dir


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    folder = reference_data_dir()
    if folder is None:
        raise SystemExit("reference data absent (set SCALING_REFERENCE_DATA)")
    path = str(folder / "optimetal_grid_ND_seeds.csv")
    settings = Fit2DSettings(law="kaplan-broken", space="linear", weights="seed-std")
    args = (path, "N_params", "D_train", "val_loss", ["model"])
    fit_s = _timed(lambda: fit2d_table(*args, settings=settings))
    boot_s = _timed(lambda: fit2d_table(*args, settings=Fit2DSettings(**{**settings.__dict__, "bootstrap": 200})))

    from scipy.optimize import curve_fit

    def kaplan(x, a_n, a_d1, a_d2, n_c, d_c):
        n, d = x
        return ((n_c / n) ** (a_n / a_d2) + (d_c / d) * (1 + d_c / d) ** (a_d1 / a_d2 - 1)) ** a_d2

    groups = curves(read_table(path), ["N_params", "D_train"], "val_loss", ["model"])

    def reference():
        for c in groups:
            with np.errstate(all="ignore"):
                curve_fit(kaplan, c.x.T, c.y, p0=[0.5, 0.5, 0.5, 1e4, 1e4], sigma=c.y_std, absolute_sigma=True,
                          maxfev=20000)

    ref_s = _timed(reference)
    print(f"multi-start fit, 294 rows, 2 groups:   {fit_s:7.3f} s   (target < 10 s)")
    print(f"same with --bootstrap 200:             {boot_s:7.3f} s   (target < 120 s)")
    print(f"reference: curve_fit, one start:       {ref_s:7.3f} s")
    print(f"ratio multi-start / reference:         {fit_s / ref_s:7.1f}")


if __name__ == "__main__":
    main()
