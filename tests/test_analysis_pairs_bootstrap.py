"""The pairs (case-resampling) bootstrap: Chinchilla SEs of Besiroglu et al.'s replication, and a synthetic check."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from scaling.analysis.fitting import fit
from scaling.analysis.selection import build_law
from scaling.analysis.table import Curve
from scaling.analysis.uncertainty import bootstrap
from scaling.cli import main
from scaling.errors import InputError

REPLICATION_SE = {"alpha": 0.0154, "beta": 0.0206, "E": 0.0257}  # Besiroglu et al., 4,000 pairs resamples


def test_chinchilla_pairs_bootstrap_matches_replication(reference_data, tmp_path):
    out = tmp_path / "fit.json"
    assert main(["-q", "fit2d", str(reference_data / "chinchilla_epoch_N_D_loss.csv"), "--n", "N_params",
                 "--d", "D_tokens", "--y", "loss", "--where", "epoch_excluded_outlier == 0", "--law", "chinchilla",
                 "--loss", "huber", "--huber-delta", "1e-3", "--bootstrap", "200", "--bootstrap-method", "pairs",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["settings"]["bootstrap_method"] == "pairs"
    (entry,) = doc["fits"]
    boot = entry["bootstrap"]
    assert boot["method"] == "pairs" and boot["n_valid"] >= 190
    for name, published in REPLICATION_SE.items():
        assert published / 2 < boot["stderr"][name] < published * 2, (name, boot["stderr"][name])
        lo, hi = entry["params_ci95"][name]
        assert lo < entry["params"][name] < hi


def _power_curve(seed: int = 3) -> tuple[Curve, float]:
    """A one-seed power law y = 2 x^-0.3 with 3% multiplicative noise at 14 x values."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e2, 1e6, 14)
    y = 2.0 * x**-0.3 * np.exp(0.03 * rng.standard_normal(len(x)))
    return Curve({}, x, y, np.zeros_like(y), np.ones(len(x), dtype=int), [np.array([v]) for v in y]), 0.3


def test_pairs_and_auto_on_a_power_law():
    curve, exponent = _power_curve()
    law = build_law("power")
    result = fit(law, curve.x, curve.y)
    auto = bootstrap(result, curve, n_boot=200, seed=1)
    pairs = bootstrap(result, curve, n_boot=200, seed=1, method="pairs")
    assert auto.method == "residuals" and pairs.method == "pairs"
    assert pairs.n_valid == 200 and pairs.widening == 1.0 and auto.widening > 1.0
    for boot in (auto, pairs):
        lo, hi = boot.exponents_ci95[0]
        assert lo < exponent < hi and hi - lo < 0.1
    # pairs replicates really differ from the residual ones (different resampling, same seed)
    assert not np.allclose(np.sort(auto.samples[:, 1]), np.sort(pairs.samples[:, 1]))
    with pytest.raises(InputError, match="bootstrap-method"):
        bootstrap(result, curve, n_boot=10, method="wild")


def test_fit_cli_accepts_pairs(tmp_path, capsys):
    curve, _ = _power_curve()
    table = tmp_path / "curve.csv"
    table.write_text("x,y\n" + "".join(f"{x},{y}\n" for x, y in zip(curve.x, curve.y)))
    out = tmp_path / "fit.json"
    assert main(["fit", str(table), "--x", "x", "--y", "y", "--law", "power", "--bootstrap", "100",
                 "--bootstrap-method", "pairs", "--json", str(out)]) == 0
    (entry,) = json.loads(out.read_text())["fits"]
    assert entry["exponents"][0] == pytest.approx(0.3, abs=0.03)
    lo, hi = map(float, re.search(r"0\.\d+ \[(\d\.\d+), (\d\.\d+)\]", capsys.readouterr().out).groups())
    assert lo < 0.3 < hi  # the printed bootstrap interval of the exponent
