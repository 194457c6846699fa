"""The paired-seed bootstrap: a seed's offset shared by every x moves a curve's level, not its shape.

In a sweep a seed fixes the initialisation and the nested subsets at every D, so one seed's curve can sit above
another's at every point. Resampled as independent noise at each x, that offset widens the break's band by an
order of magnitude (benchmarks/bench_paired_seeds.py); paired, it widens only the amplitude's."""

from __future__ import annotations

import json

import numpy as np

from scaling.analysis.fit1d import FitSettings, fit_table
from scaling.analysis.fitting import fit
from scaling.analysis.laws import get_law
from scaling.analysis.table import curves, read_table
from scaling.analysis.uncertainty import bootstrap
from scaling.cli import main

X = np.geomspace(10, 1000, 9)
BREAK = 100.0


def _table(path, offsets, noise=0.02, seed=0, drop=None):
    """A CSV of one broken curve (exponent 0.2 below D = 100, 0.7 above) with 3 seeds; seed s's values are times
    exp(offsets[s]) at every x; `drop` = (x index, seed) leaves that row out."""
    rng = np.random.default_rng(seed)
    theta = np.array([0.0, 5.0, 0.2, 0.5, BREAK, 0.3])
    y = get_law("broken").evaluate(X, theta)
    lines = ["x,seed,y"]
    for i, (x, value) in enumerate(zip(X, y)):
        for s, offset in enumerate(offsets):
            if drop != (i, s):
                lines.append(f"{x:.8g},{s},{value * np.exp(offset + noise * rng.standard_normal()):.8g}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _fit(path, seed_column="seed"):
    settings = FitSettings(law="broken", fixed={"a": 0.0}, bootstrap=200, seed_column=seed_column)
    (entry,) = fit_table(path, "x", "y", settings=settings)["fits"]
    return entry


def _decades(interval):
    return np.log10(interval[1] / interval[0])


def test_a_seed_offset_leaves_the_break_band_as_narrow_as_without_one(tmp_path):
    offsets = _table(tmp_path / "offsets.csv", [0.3, 0.0, -0.3])
    paired, independent = _fit(offsets), _fit(offsets, seed_column="")
    assert paired["bootstrap_method"] == "paired-seeds" and independent["bootstrap_method"] == "seeds"
    lo, hi = paired["breaks_ci95"][0]
    assert lo < BREAK < hi
    assert _decades(paired["breaks_ci95"][0]) < 0.5
    assert _decades(independent["breaks_ci95"][0]) > 3 * _decades(paired["breaks_ci95"][0])
    plain = _fit(_table(tmp_path / "plain.csv", [0.0, 0.0, 0.0]))
    assert _decades(paired["breaks_ci95"][0]) < 2 * _decades(plain["breaks_ci95"][0])


def _amplitude_interval(path):
    (curve,) = curves(read_table(path), "x", "y", seed_column="seed")
    result = fit(get_law("broken"), curve.x, curve.y, fixed={"a": 0.0})
    boot = bootstrap(result, curve, n_boot=200)
    assert boot.method == "paired-seeds"
    return boot.params_ci95["b"]


def test_the_offsets_still_widen_the_amplitude_interval(tmp_path):
    plain = _amplitude_interval(_table(tmp_path / "plain.csv", [0.0, 0.0, 0.0]))
    offsets = _amplitude_interval(_table(tmp_path / "offsets.csv", [0.3, 0.0, -0.3]))
    assert _decades(offsets) > 3 * _decades(plain)


def test_an_unbalanced_curve_falls_back_to_seeds_within_each_x(tmp_path):
    entry = _fit(_table(tmp_path / "gap.csv", [0.3, 0.0, -0.3], drop=(4, 1)))
    assert entry["bootstrap_method"] == "seeds"


def test_the_cli_pairs_by_the_seed_column_and_can_be_told_not_to(tmp_path):
    path = _table(tmp_path / "offsets.csv", [0.3, 0.0, -0.3])
    methods = {}
    for column in ("seed", ""):
        out = tmp_path / f"fit{column}.json"
        assert main(["-q", "fit", path, "--x", "x", "--y", "y", "--law", "broken", "--fix", "a=0",
                     "--bootstrap", "100", "--seed-column", column, "--json", str(out)]) == 0
        (entry,) = json.loads(out.read_text())["fits"]
        methods[column] = entry["bootstrap_method"]
    assert methods == {"seed": "paired-seeds", "": "seeds"}
