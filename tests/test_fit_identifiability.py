"""Parameters the data cannot identify are flagged, and nothing derived from them is printed or drawn."""

import json

import numpy as np

from scaling.analysis.fit2d import withhold_unidentified
from scaling.analysis.fitting import _covariance
from scaling.cli import main


def _grid(path, ns, ds, noise=0.02, seed=3):
    rng = np.random.default_rng(seed)
    rows = ["n,d,y"] + [f"{n},{d},{(2 * d ** -0.3 + n ** -0.2) * (1 + noise * rng.standard_normal())}"
                        for n in ns for d in ds]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_3x3_chinchilla_fit_flags_and_withholds(tmp_path, capsys):
    table = _grid(tmp_path / "g.csv", (1e4, 3e4, 1e5), (1e3, 3e3, 1e4))
    out = tmp_path / "f.json"
    assert main(["fit2d", str(table), "--n", "n", "--d", "d", "--y", "y", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    entry = json.loads(out.read_text())["fits"][0]
    assert "E" in entry["unidentified"] and len(entry["unidentified"]) >= 2
    assert entry["compute_optimal"] is None and entry["crossover"] is None
    assert set(entry["withheld"]) == {"crossover", "compute_optimal", "exponent_guides"}
    assert "N_opt ~ C^" not in printed and "not identified by the data" in printed
    plot = tmp_path / "p.pdf"
    assert main(["-q", "plot", "--fit", str(out), "--out", str(plot)]) == 0


def test_a_well_sampled_grid_is_identified(tmp_path):
    table = _grid(tmp_path / "g.csv", np.geomspace(1e3, 1e7, 7), np.geomspace(1e2, 1e6, 7), noise=0.002)
    out = tmp_path / "f.json"
    assert main(["-q", "fit2d", str(table), "--n", "n", "--d", "d", "--y", "y", "--json", str(out)]) == 0
    entry = json.loads(out.read_text())["fits"][0]
    assert [name for name in entry["unidentified"] if name != "E"] == []
    assert entry["compute_optimal"]["a"] > 0 and not entry["withheld"].get("compute_optimal")


def test_a_floor_the_data_do_not_reach_is_flagged_in_one_axis_fits(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("x,y\n" + "".join(f"{x},{3 * x ** -0.4}\n" for x in np.geomspace(10, 1e5, 9)))
    out = tmp_path / "f.json"
    assert main(["-q", "fit", str(table), "--x", "x", "--y", "y", "--law", "power+floor", "--json", str(out)]) == 0
    entry = json.loads(out.read_text())["fits"][0]
    assert entry["unidentified"] == ["a"]


def test_a_rank_deficient_jacobian_flags_only_the_parameters_in_its_null_space():
    rng = np.random.default_rng(0)
    jac = rng.standard_normal((10, 3))
    jac[:, 2] = 0.0  # the data do not depend on the third parameter
    cov = _covariance(jac, np.ones(10), np.array([1.0, 2.0, 3.0]))
    assert np.all(np.isfinite(cov[:2, :2])) and np.all(np.isnan(cov[2])) and np.all(np.isnan(cov[:, 2]))


def test_exponent_guides_of_an_unresolved_break_are_withheld():
    points = [{"d": d} for d in (10.0, 100.0, 1000.0)]
    unresolved = {"unidentified": [], "breaks": [50.0], "breaks_ci95": [[5.0, 400.0]], "points": points}
    resolved = {"unidentified": [], "breaks": [50.0], "breaks_ci95": [[30.0, 80.0]], "points": points}
    assert "exponent_guides" in withhold_unidentified(unresolved)
    assert withhold_unidentified(resolved) == {}
