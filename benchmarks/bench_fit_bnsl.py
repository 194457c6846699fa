"""BNSL 4-digit addition: `scaling fit` against the reference recipe of Caballero et al., timed side by side.

The reference recipe, written here from its description (not copied): a brute-force grid of 163,840 points
(5 floors x 8^5 over b, c0, c1, d1, f1) scored by the mean squared error of log(y+1), evaluated point by point with
`scipy.optimize.brute` as the original does, then `scipy.optimize.curve_fit` on log(y+1) from the grid's best.

Prints the RMSLE of both on the 14 fitted points (DESIGN's definition) and on the 3 held-out ones, and two speed
ratios (reference / ours): whole processes (a `python` process running the recipe vs the `scaling fit` command,
each a fresh process, both with compiled bytecode) and in-process fit calls.
Usage: python benchmarks/bench_fit_bnsl.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GRID = {
    "a": ("lin", 0.0, 0.8, 5),
    "b": ("geom", 0.5, 20.0, 8),
    "c0": ("lin", 0.0, 1.0, 8),
    "c1": ("lin", 0.5, 8.0, 8),
    "d1": ("geom", None, None, 8),  # over the data range
    "f1": ("geom", 0.01, 1.0, 8),
}


def load(path: Path):
    """(x, y) of the fitted rows and of the held-out rows."""
    rows = [line.split(",") for line in Path(path).read_text().split()[1:]]
    pick = lambda keep: (np.array([float(r[0]) for r in rows if (r[2] == "fit") == keep]),  # noqa: E731
                         np.array([float(r[1]) for r in rows if (r[2] == "fit") == keep]))
    return (*pick(True), *pick(False))


def bnsl(x, a, b, c0, c1, d1, f1):
    return a + b * x ** (-c0) * (1 + (x / d1) ** (1 / f1)) ** (-c1 * f1)


def reference_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Grid search on log(y+1) (163,840 points, one function call each) then curve_fit from the best point."""
    from scipy.optimize import brute, curve_fit

    values = []
    for kind, lo, hi, count in GRID.values():
        lo = x.min() if lo is None else lo
        hi = x.max() if hi is None else hi
        values.append(np.linspace(lo, hi, count) if kind == "lin" else np.geomspace(lo, hi, count))
    target = np.log(y + 1)

    def score(index):
        p = [v[int(round(i))] for v, i in zip(values, index)]
        with np.errstate(all="ignore"):
            err = np.mean((np.log(bnsl(x, *p) + 1) - target) ** 2)
        return err if np.isfinite(err) else 1e30

    best = brute(score, tuple(slice(0, len(v), 1) for v in values), finish=None)
    start = [v[int(round(i))] for v, i in zip(values, best)]
    with np.errstate(all="ignore"):
        params, _ = curve_fit(lambda xx, *p: np.log(bnsl(xx, *p) + 1), x, target, p0=start, maxfev=20000)
    return params


def rmsle(params, x, y) -> float:
    return float(np.sqrt(np.mean((np.log(bnsl(x, *params)) - np.log(y)) ** 2)))


def ours_fit(x, y):
    from scaling.analysis.fitting import fit
    from scaling.analysis.laws import get_law

    result = fit(get_law("broken"), x, y)
    return np.array([result.params[k] for k in GRID])


def timed(function, *args):
    start = time.perf_counter()
    out = function(*args)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-only", metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_only:  # the reference recipe as a whole process
        x, y, _, _ = load(Path(args.reference_only))
        print(rmsle(reference_fit(x, y), x, y))
        return
    from scaling.reference import reference_data_dir

    folder = reference_data_dir()
    if folder is None:
        sys.exit("reference data absent (set SCALING_REFERENCE_DATA)")
    path = folder / "bnsl_4digit_addition.csv"
    x, y, x_held, y_held = load(path)
    # Bytecode for the package, as a regular (non-editable) pip install writes it; numpy's and scipy's are already
    # compiled in site-packages. Without it (an editable install under PYTHONDONTWRITEBYTECODE=1) every `scaling`
    # process recompiles its modules, about 25 ms.
    import compileall

    import scaling

    compileall.compile_dir(Path(scaling.__file__).parent, quiet=1)

    ref_times, our_times, ref_proc, our_proc = [], [], [], []
    scaling_cmd = [shutil.which("scaling") or "scaling", "-q", "fit", str(path), "--x", "dataset_size",
                   "--y", "test_cross_entropy", "--law", "broken", "--holdout-last", "3"]
    reference_cmd = [sys.executable, __file__, "--reference-only", str(path)]
    for _ in range(args.repeats):  # interleaved, so load on the machine hits both alike
        t, ref_params = timed(reference_fit, x, y)
        ref_times.append(t)
        t, our_params = timed(ours_fit, x, y)
        our_times.append(t)
        ref_proc.append(_run(reference_cmd))
        our_proc.append(_run(scaling_cmd))
    med = statistics.median
    print(f"RMSLE fitted (14 points): reference recipe {rmsle(ref_params, x, y):.4e}, scaling fit {rmsle(our_params, x, y):.4e}"
          f" (ratio {rmsle(our_params, x, y) / rmsle(ref_params, x, y):.3f}); published reference 6.0e-4")
    print(f"RMSLE held out (3 points): reference recipe {rmsle(ref_params, x_held, y_held):.4e}, "
          f"scaling fit {rmsle(our_params, x_held, y_held):.4e}")
    print(f"in-process fit call: reference {med(ref_times):.3f} s, scaling {med(our_times) * 1e3:.1f} ms, "
          f"ratio {med(ref_times) / med(our_times):.0f}x")
    print(f"whole process: reference {med(ref_proc):.3f} s, scaling fit {med(our_proc):.3f} s, "
          f"ratio {med(ref_proc) / med(our_proc):.1f}x (medians of {args.repeats})")


def _run(command) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
