"""The compute-optimal frontier on measured compute (`fit2d --compute`), its bootstrap bands, and the IsoFLOP view,
on synthetic Chinchilla grids with a known surface and a known cost C = c N^a D^b (scaling.analysis.synthetic)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scaling.analysis.derived import CostModel, _argmin_n, compute_optimal
from scaling.analysis.fit2d import Fit2DSettings, fit2d_table
from scaling.analysis.laws2d import Chinchilla
from scaling.analysis.synthetic import chinchilla_grid, write_grid
from scaling.cli import main

NS, DS = np.geomspace(1e3, 1e5, 5), np.geomspace(1e2, 1e4, 5)


def _covered(truth, band) -> list[bool]:
    return [lo <= t <= hi for t, (lo, hi) in zip(truth, band)]


def test_the_closed_form_frontier_under_a_fitted_cost_is_the_numeric_minimum():
    theta = np.array([0.2, 8.0, 4.0, 0.4, 0.3])
    cost = CostModel(40.0, 1.2, 0.9)
    budgets = np.geomspace(1e8, 1e14, 5)
    closed = compute_optimal(Chinchilla(), theta, budgets, cost)
    numeric = [_argmin_n(Chinchilla(), theta, c, cost) for c in budgets]
    np.testing.assert_allclose(closed["n_opt"], numeric, rtol=2e-3)
    np.testing.assert_allclose(40.0 * closed["n_opt"] ** 1.2 * closed["d_opt"] ** 0.9, budgets, rtol=1e-12)
    assert closed["a"] == pytest.approx(0.3 / (0.4 * 0.9 + 0.3 * 1.2))
    batched = compute_optimal(Chinchilla(), np.stack([theta, theta]), budgets, cost)  # bootstrap replicates
    np.testing.assert_allclose(batched["n_opt"][1], closed["n_opt"])


@pytest.mark.parametrize("method", ["auto", "pairs"])
def test_bands_on_measured_compute_cover_the_known_frontier_and_6nd_would_not(tmp_path, method):
    """Over 4 noisy grids, the 95% bands of N_opt(C) and D_opt(C) cover the true frontier (under the true cost
    40 N^1.2 D^0.9) at >= 80% of the budgets; the frontier the law gives under the assumed 6 N D lies outside them
    nearly everywhere, so the fitted cost model is what puts the bands on the truth."""
    covered, covered_6nd, total = 0, 0, 0
    for seed in range(4):
        grid = chinchilla_grid(np.random.default_rng(seed), NS, DS)
        write_grid(grid, tmp_path / "grid.csv")
        entry = fit2d_table(tmp_path / "grid.csv", "n_params", "train_size", "val_loss", settings=Fit2DSettings(
            bootstrap=200, bootstrap_method=method, compute="train_flops", seed=seed))["fits"][0]
        optimal = entry["compute_optimal"]
        assert entry["unidentified"] == [] and optimal["cost_model"] == entry["cost_model"]
        assert entry["cost_model"]["kind"] == "fitted" and entry["cost_model"]["column"] == "train_flops"
        assert entry["cost_model"]["a"] == pytest.approx(1.2, abs=0.03)
        assert entry["cost_model"]["b"] == pytest.approx(0.9, abs=0.03)
        budgets = np.array(optimal["C"])
        truth = compute_optimal(Chinchilla(), grid.theta, budgets, CostModel(*grid.cost))
        assumed = compute_optimal(Chinchilla(), grid.theta, budgets)
        for key in ("n_opt", "d_opt"):
            covered += sum(_covered(truth[key], optimal[f"{key}_ci95"]))
            covered_6nd += sum(_covered(assumed[key], optimal[f"{key}_ci95"]))
            total += len(budgets)
            ratio = np.array(optimal[f"{key}_ci95"])[:, 1] / np.array(optimal[f"{key}_ci95"])[:, 0]
            assert np.all((ratio > 1.01) & (ratio < 2.0))  # bands that say something
        lo, hi = optimal["a_ci95"]
        assert lo <= optimal["a"] <= hi
    assert covered >= 0.8 * total
    assert covered_6nd <= 0.2 * total


def test_the_frontier_is_withheld_when_a_parameter_is_unidentified_and_the_cost_model_still_said(tmp_path, capsys):
    grid = chinchilla_grid(np.random.default_rng(3), (1e4, 3e4, 1e5), (1e3, 3e3, 1e4), noise=0.02)
    write_grid(grid, tmp_path / "grid.csv")
    out = tmp_path / "fit.json"
    assert main(["fit2d", str(tmp_path / "grid.csv"), "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                 "--compute", "train_flops", "--bootstrap", "100", "--json", str(out),
                 "--plot", str(tmp_path / "fit.pdf")]) == 0
    printed = capsys.readouterr().out
    entry = json.loads(out.read_text())["fits"][0]
    assert "A" in entry["unidentified"]
    assert entry["compute_optimal"] is None and entry["withheld"]["compute_optimal"] == "rests on unidentified A"
    assert "compute optimal withheld: rests on unidentified A" in printed and "N_opt ~ C^" not in printed
    assert "cost model: C = " in printed and "fitted to train_flops" in printed
    assert "IsoFLOP: no compute bin" in printed and entry["isoflop"]["bins_with_n_opt"] == 0  # 3 x 3: one N per bin
    assert (tmp_path / "fit_frontier.pdf").is_file() and (tmp_path / "fit_frontier.png").is_file()


def test_isoflop_minima_follow_the_true_frontier_on_a_dense_grid(tmp_path, capsys):
    grid = chinchilla_grid(np.random.default_rng(0), np.geomspace(1e2, 1e6, 9), np.geomspace(1e1, 1e5, 9),
                           cost=(6.0, 1.0, 1.0))
    write_grid(grid, tmp_path / "grid.csv")
    out = tmp_path / "fit.json"
    assert main(["fit2d", str(tmp_path / "grid.csv"), "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                 "--json", str(out)]) == 0  # no --compute: C = 6 N D, which is the truth here
    entry = json.loads(out.read_text())["fits"][0]
    assert entry["cost_model"]["kind"] == "assumed" and entry["compute_optimal"]["flops_per_param_token"] == 6.0
    iso = entry["isoflop"]
    found = [b for b in iso["bins"] if b["n_opt"] is not None]
    assert len(found) >= 8 and iso["note"] is None
    truth = compute_optimal(Chinchilla(), grid.theta, np.array([b["C"] for b in found]))["n_opt"]
    ratio = np.array([b["n_opt"] for b in found]) / truth
    assert np.all((ratio > 1 / 1.35) & (ratio < 1.35))
    assert iso["a"] == pytest.approx(compute_optimal(Chinchilla(), grid.theta, np.array([1e6, 1e9]))["a"], abs=0.05)
    few = [b for b in iso["bins"] if len(set(b["n"])) < 3]
    assert few and all(b["n_opt"] is None and "a parabola needs 3" in b["note"] for b in few)
    assert "IsoFLOP (parabola in ln N per compute bin)" in capsys.readouterr().out


def test_plot_draws_the_frontier_view_and_refuses_a_json_without_it(tmp_path):
    grid = chinchilla_grid(np.random.default_rng(1), NS, DS)
    write_grid(grid, tmp_path / "grid.csv")
    fit = tmp_path / "fit.json"
    assert main(["-q", "fit2d", str(tmp_path / "grid.csv"), "--n", "n_params", "--d", "train_size", "--y",
                 "val_loss", "--compute", "train_flops", "--bootstrap", "50", "--json", str(fit)]) == 0
    assert main(["-q", "plot", "--fit", str(fit), "--kind", "frontier", "--out", str(tmp_path / "f.pdf")]) == 0
    assert (tmp_path / "f.pdf").stat().st_size > 1000 and (tmp_path / "f.png").is_file()
    document = json.loads(fit.read_text())
    for entry in document["fits"]:
        del entry["isoflop"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    assert main(["plot", "--fit", str(old), "--kind", "frontier", "--out", str(tmp_path / "g.pdf")]) == 2
    assert not (tmp_path / "g.pdf").exists()


@pytest.mark.parametrize("value, message", [("0", "is not a positive compute"), ("inf", "is not finite"),
                                            ("abc", "is not a number")])
def test_a_bad_compute_value_is_one_line_naming_file_column_and_row(tmp_path, capsys, value, message):
    grid = chinchilla_grid(np.random.default_rng(1), NS, DS)
    path = tmp_path / "grid.csv"
    write_grid(grid, path)
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    lines[3] = ",".join(cells[:-1] + [value])
    path.write_text("\n".join(lines) + "\n")
    code = main(["fit2d", str(path), "--n", "n_params", "--d", "train_size", "--y", "val_loss", "--compute",
                 "train_flops", "--json", str(tmp_path / "f.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(path) in err and "'train_flops' row 3" in err and message in err
    assert not (tmp_path / "f.json").exists()
