"""`scaling fit2d` end to end on small synthetic tables: the JSON contract, bootstrap, figures, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from table_helpers import TRUE
from table_helpers import write_grid as _write_grid

from scaling.cli import main


def test_json_contract_and_recovery(tmp_path):
    table = _write_grid(tmp_path / "grid.csv", groups=("twobody", "threebody"))
    out = tmp_path / "fit.json"
    code = main(["-q", "fit2d", str(table), "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                 "--group", "arch", "--where", "status == 'done'", "--law", "kaplan-broken",
                 "--weights", "seed-std", "--space", "linear", "--bootstrap", "50", "--json", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["columns"] == {"n": "n_params", "d": "train_size", "y": "val_loss", "group": ["arch"]}
    assert [f["group"] for f in doc["fits"]] == [{"arch": "twobody"}, {"arch": "threebody"}]
    entry = doc["fits"][0]
    for key in ("group", "law", "params", "stderr", "exponents", "breaks", "breaks_ci95", "aicc", "bic", "rmsle",
                "holdout_rmsle", "n_points", "params_ci95", "crossover", "local_exponents", "data_exponent_per_n",
                "points"):
        assert key in entry, key
    assert entry["n_points"] == 30 and len(entry["points"]) == 30
    assert entry["points"][0]["n_seeds"] == 3
    assert entry["bootstrap"]["method"] == "seeds"
    assert entry["params"]["aD2"] == pytest.approx(TRUE[2], abs=0.05)
    assert entry["params"]["Dc"] == pytest.approx(TRUE[4], rel=0.3)
    lo, hi = entry["breaks_ci95"][0]
    assert lo < entry["breaks"][0] < hi
    crossover = entry["crossover"]
    assert len(crossover["n"]) == len(crossover["d"]) == len(crossover["d_ci95"]) > 5
    grid = np.array(entry["local_exponents"]["dlogL_dlogD"])
    assert grid.shape == (9, 9) and np.all(grid < 0)
    assert entry["compute_optimal"] is None  # kaplan-broken is not additive


def test_chinchilla_without_seeds_uses_residual_bootstrap_and_frontier(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "chin.csv"
    n = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 60))
    d = np.exp(rng.uniform(np.log(1e9), np.log(1e12), 60))
    loss = 1.8 + 480 / n**0.35 + 2100 / d**0.37
    path.write_text("N,D,loss\n" + "".join(f"{a},{b},{c * np.exp(rng.normal(0, 0.01))}\n" for a, b, c in zip(n, d, loss)))
    out = tmp_path / "fit.json"
    assert main(["-q", "fit2d", str(path), "--n", "N", "--d", "D", "--y", "loss", "--loss", "huber",
                 "--bootstrap", "40", "--json", str(out)]) == 0
    (entry,) = json.loads(out.read_text())["fits"]
    assert entry["bootstrap"]["method"] == "residuals"
    assert entry["params"]["alpha"] == pytest.approx(0.35, abs=0.05)
    optimal = entry["compute_optimal"]
    assert len(optimal["C"]) == len(optimal["n_opt"]) == 9
    assert optimal["a"] + optimal["b"] == pytest.approx(1.0)
    assert entry["breaks"] == [] and entry["exponents"]["D"] == [entry["params"]["beta"]]


def test_plot_option_writes_all_figures(tmp_path):
    table = _write_grid(tmp_path / "grid.csv")
    plot = tmp_path / "figs" / "surface.pdf"
    assert main(["-q", "fit2d", str(table), "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                 "--law", "hoffmann-broken", "--plot", str(plot)]) == 0
    names = sorted(p.name for p in plot.parent.iterdir())
    stems = ["surface", "surface_data", "surface_exponents", "surface_frontier", "surface_params", "surface_residuals"]
    assert names == sorted(f"{s}.{ext}" for s in stems for ext in ("pdf", "png"))
    assert (plot.parent / "surface.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--y", "nope"], "'nope' not found"),
        (["--y", "val_loss", "--weights", "seed-std"], "seed-std"),
        (["--y", "val_loss", "--where", "seed > 99"], "selects no rows"),
        (["--y", "val_loss", "--huber-delta", "0"], "--huber-delta"),
        (["--y", "status"], "not a number"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, extra, message):
    table = _write_grid(tmp_path / "grid.csv", seeds=(1,))
    out = tmp_path / "fit.json"
    code = main(["fit2d", str(table), "--n", "n_params", "--d", "train_size", *extra, "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_non_positive_axis_value_is_rejected(tmp_path, capsys):
    table = tmp_path / "bad.csv"
    table.write_text("n,d,y\n" + "".join(f"{n},{d},{1 + 1 / n + 1 / (d + 1)}\n" for n in (1, 2, 3) for d in (0, 1, 2)))
    assert main(["fit2d", str(table), "--n", "n", "--d", "d", "--y", "y"]) == 2
    assert "column 'd'" in capsys.readouterr().err
