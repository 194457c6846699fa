"""`scaling fit2d` reproduces the published two-axis fits of the reference data (the issue's acceptance checks)."""

from __future__ import annotations

import json
import math

import pytest

from scaling.cli import main

PUBLISHED_KAPLAN = {  # reference-data README: aN, aD1, aD2, log10 Nc, log10 Dc, AICc
    "OptiMetal2B (TC)": (0.30, 0.20, 0.37, 5.36, 4.51, -344.50),
    "OptiMetal3B (TC)": (0.33, 0.16, 0.46, 5.14, 4.47, -359.55),
}
PUBLISHED_HOFFMANN_AICC = {"OptiMetal2B (TC)": -253.68, "OptiMetal3B (TC)": -285.21}


def _fit2d(tmp_path, *args) -> dict:
    out = tmp_path / "fit.json"
    assert main(["-q", "fit2d", *map(str, args), "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_chinchilla_hoffmann_recipe(reference_data, tmp_path):
    doc = _fit2d(tmp_path, reference_data / "chinchilla_epoch_N_D_loss.csv", "--n", "N_params", "--d", "D_tokens",
                 "--y", "loss", "--where", "epoch_excluded_outlier == 0", "--law", "chinchilla", "--loss", "huber",
                 "--huber-delta", "1e-3", "--bootstrap", "200")
    (entry,) = doc["fits"]
    params = entry["params"]
    assert entry["n_points"] == 240
    assert params["alpha"] == pytest.approx(0.3473, abs=0.003)
    assert params["beta"] == pytest.approx(0.3672, abs=0.003)
    assert params["E"] == pytest.approx(1.8172, abs=0.005)
    assert params["A"] == pytest.approx(477.84, rel=0.02) and params["B"] == pytest.approx(2143.86, rel=0.02)
    # bootstrap standard errors of the replication's order (alpha 0.0154, beta 0.0206, E 0.0257)
    boot = entry["bootstrap"]["stderr"]
    assert 0.005 < boot["alpha"] < 0.045 and 0.007 < boot["beta"] < 0.06 and 0.008 < boot["E"] < 0.08
    lo, hi = entry["params_ci95"]["alpha"]
    assert lo < params["alpha"] < hi
    # compute-optimal exponents a = beta/(alpha+beta) ~ 0.51 (Epoch's replication: about 0.51)
    optimal = entry["compute_optimal"]
    assert optimal["a"] == pytest.approx(params["beta"] / (params["alpha"] + params["beta"]))
    assert optimal["a_ci95"][0] < optimal["a"] < optimal["a_ci95"][1]


def test_optimetal_grid_kaplan_and_hoffmann(reference_data, tmp_path):
    common = [reference_data / "optimetal_grid_ND_seeds.csv", "--n", "N_params", "--d", "D_train", "--y", "val_loss",
              "--group", "model", "--weights", "seed-std", "--space", "linear"]
    kaplan = {f["group"]["model"]: f for f in _fit2d(tmp_path, *common, "--law", "kaplan-broken")["fits"]}
    hoffmann = {f["group"]["model"]: f for f in _fit2d(tmp_path, *common, "--law", "hoffmann-broken")["fits"]}
    assert set(kaplan) == set(PUBLISHED_KAPLAN)
    for model, (a_n, a_d1, a_d2, log_nc, log_dc, aicc) in PUBLISHED_KAPLAN.items():
        p = kaplan[model]["params"]
        assert p["aN"] == pytest.approx(a_n, abs=0.02)
        assert p["aD1"] == pytest.approx(a_d1, abs=0.02)
        assert p["aD2"] == pytest.approx(a_d2, abs=0.02)
        assert math.log10(p["Nc"]) == pytest.approx(log_nc, abs=0.05)
        assert math.log10(p["Dc"]) == pytest.approx(log_dc, abs=0.05)
        assert kaplan[model]["aicc"] == pytest.approx(aicc, abs=0.5)
        assert hoffmann[model]["aicc"] == pytest.approx(PUBLISHED_HOFFMANN_AICC[model], abs=0.5)
        assert kaplan[model]["aicc"] < hoffmann[model]["aicc"]  # kaplan-broken ranks first, as published
        assert kaplan[model]["n_points"] == 49
        assert kaplan[model]["breaks"] == [p["Dc"]]
        assert kaplan[model]["exponents"] == {"N": [p["aN"]], "D": [p["aD1"], p["aD2"]]}
