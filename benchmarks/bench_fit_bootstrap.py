"""Bootstrap speed and interval coverage of `scaling fit`, each timed as the whole CLI process.

1. `--bootstrap 1000` on the three OptiMetal data-axis curves (target: under 60 s on the 2-core machine), against a
   reference timed in the same run: a plain loop of scipy `least_squares` fits, one per replicate, from the best fit
   (timed on 100 replicates per curve and scaled to 1000).
2. `--bootstrap 200` on 20 random broken curves (target: under 2 minutes).
3. Coverage: on N random broken curves (`scaling.analysis.synthetic`, the acceptance family) fitted with
   `--fix a=0 --bootstrap 200`, the fraction whose true break lies inside the reported 95% interval and the
   fraction whose exponents are all within 0.1.
Usage: python benchmarks/bench_fit_bootstrap.py [--curves 300] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scaling.analysis.synthetic import random_broken_curve, write_table
from scaling.reference import reference_data_dir

SCALING = shutil.which("scaling") or "scaling"


def run_cli(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([SCALING, "-q", "fit", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def reference_loop_seconds(n_replicates: int = 100) -> float:
    """scipy least_squares once per replicate (seed resampling), per OptiMetal curve: the loop a script would write."""
    from scipy.optimize import least_squares

    from scaling.analysis.fitting import fit
    from scaling.analysis.selection import build_law
    from scaling.analysis.table import curves, read_table

    fixed = {"a": 0.0, "f1": 1.0}
    table = read_table(reference_data_dir() / "optimetal_data_scaling_seeds.csv")
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for curve in curves(table, "D_train", "val_loss", ["model"]):
        law = build_law("broken", 1, fixed)
        best = fit(law, curve.x, curve.y, sigma=curve.y_std, space="linear", fixed=fixed)
        free = [law.param_names.index(n) for n in ("c0", "c1", "d1")]

        def residual(p, y):
            theta = best.theta.copy()
            theta[free] = [p[0], p[1], np.exp(p[2])]
            return (law.evaluate(curve.x, theta) - y) / curve.y_std

        p0 = [best.theta[free[0]], best.theta[free[1]], np.log(best.theta[free[2]])]
        for _ in range(n_replicates):
            y = np.array([s[rng.integers(0, len(s), len(s))].mean() for s in curve.seeds])
            least_squares(residual, p0, args=(y,))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    folder = reference_data_dir()
    if folder is None:
        sys.exit("reference data absent (set SCALING_REFERENCE_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        optimetal = run_cli(str(folder / "optimetal_data_scaling_seeds.csv"), "--x", "D_train", "--y", "val_loss",
                            "--group", "model", "--law", "broken", "--fix", "a=0", "--fix", "f1=1", "--space",
                            "linear", "--weights", "seed-std", "--bootstrap", "1000", "--json", str(tmp / "o.json"))
        reference = reference_loop_seconds(100) * 10
        print(f"OptiMetal, 3 curves, --bootstrap 1000: scaling fit {optimetal:.2f} s (whole process); "
              f"scipy least_squares loop {reference:.1f} s (100 replicates/curve x 10); ratio {reference / optimetal:.0f}x")

        rng = np.random.default_rng(args.seed)
        twenty = [random_broken_curve(rng) for _ in range(20)]
        write_table(twenty, tmp / "twenty.csv")
        seconds = run_cli(str(tmp / "twenty.csv"), "--x", "x", "--y", "y", "--group", "curve", "--fix", "a=0",
                          "--bootstrap", "200", "--json", str(tmp / "t.json"))
        print(f"20 random broken curves, --bootstrap 200: {seconds:.2f} s (whole process)")

        rng = np.random.default_rng(args.seed + 1)
        many = [random_broken_curve(rng) for _ in range(args.curves)]
        write_table(many, tmp / "many.csv")
        seconds = run_cli(str(tmp / "many.csv"), "--x", "x", "--y", "y", "--group", "curve", "--fix", "a=0",
                          "--bootstrap", "200", "--json", str(tmp / "m.json"))
        fits = {f["group"]["curve"]: f for f in json.loads((tmp / "m.json").read_text())["fits"]}
        covered = [fits[i]["breaks_ci95"][0][0] <= c.break_x <= fits[i]["breaks_ci95"][0][1] for i, c in enumerate(many)]
        exps = [max(abs(a - b) for a, b in zip(fits[i]["exponents"], c.exponents)) < 0.1 for i, c in enumerate(many)]
        widths = [np.log10(fits[i]["breaks_ci95"][0][1] / fits[i]["breaks_ci95"][0][0]) for i in range(len(many))]
        print(f"coverage on {len(many)} curves (seed {args.seed + 1}): true break inside the 95% interval "
              f"{np.mean(covered):.1%}; exponents within 0.1 {np.mean(exps):.1%}; median interval width "
              f"{np.median(widths):.3f} decades; {seconds:.1f} s")


if __name__ == "__main__":
    main()
