"""Parameter recovery and honest break intervals on random broken laws with known truth, through the CLI
(`scaling fit --fix a=0 --bootstrap 200`), on a fixed-seed set of curves."""

import json
import math

import numpy as np
import pytest

from scaling.analysis.synthetic import random_broken_curve, write_table
from scaling.cli import main


def _recovery(tmp_path, n_curves: int, seed: int):
    rng = np.random.default_rng(seed)
    curves = [random_broken_curve(rng) for _ in range(n_curves)]
    write_table(curves, tmp_path / "synthetic.csv")
    out = tmp_path / "fits.json"
    assert main(["-q", "fit", str(tmp_path / "synthetic.csv"), "--x", "x", "--y", "y", "--group", "curve",
                 "--law", "broken", "--fix", "a=0", "--bootstrap", "200", "--json", str(out)]) == 0
    fits = {entry["group"]["curve"]: entry for entry in json.loads(out.read_text())["fits"]}
    covered, exponents_ok = [], []
    for i, curve in enumerate(curves):
        entry = fits[i]
        lo, hi = entry["breaks_ci95"][0]
        covered.append(lo <= curve.break_x <= hi)
        exponents_ok.append(max(abs(a - b) for a, b in zip(entry["exponents"], curve.exponents)) < 0.1)
        assert lo < hi and math.isfinite(lo)
    return np.mean(covered), np.mean(exponents_ok)


def test_break_coverage_and_exponents_on_40_curves(tmp_path):
    coverage, exponents_ok = _recovery(tmp_path, 40, seed=2026)
    assert coverage >= 0.9
    assert exponents_ok >= 0.9


@pytest.mark.slow
def test_break_coverage_and_exponents_on_200_curves(tmp_path):
    coverage, exponents_ok = _recovery(tmp_path, 200, seed=7)
    assert coverage >= 0.9
    assert exponents_ok >= 0.9


def test_single_seed_curves_use_the_residual_bootstrap_with_honest_coverage():
    """One seed per x: residual bootstrap; the true break inside the 95% interval for most curves."""
    from scaling.analysis.fitting import fit
    from scaling.analysis.laws import get_law
    from scaling.analysis.table import Curve
    from scaling.analysis.uncertainty import bootstrap

    rng = np.random.default_rng(11)
    covered = []
    for i in range(40):
        truth = random_broken_curve(rng, n_seeds=1)
        y = truth.seeds[:, 0]
        curve = Curve({}, truth.x, y, np.zeros_like(y), np.ones(len(y), dtype=int), list(truth.seeds))
        result = fit(get_law("broken"), curve.x, curve.y, fixed={"a": 0.0})
        boot = bootstrap(result, curve, n_boot=200, seed=i)
        assert boot.method == "residuals" and boot.n_valid >= 190
        lo, hi = boot.breaks_ci95[0]
        covered.append(lo <= truth.break_x <= hi)
    assert np.mean(covered) >= 0.85
