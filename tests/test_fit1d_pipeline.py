"""The one-axis pipeline as a library (`scaling.analysis.fit1d.fit_table`): the same document as the CLI, documents
that carry their columns and settings, one registry of law names."""

import json
import subprocess
import sys

import numpy as np
import pytest

from scaling.analysis.fit1d import FitSettings, fit_table
from scaling.cli import main


def _optimetal(reference_data):
    return str(reference_data / "optimetal_data_scaling_seeds.csv")


def test_fit_table_gives_the_cli_document(reference_data, tmp_path):
    out = tmp_path / "cli.json"
    assert main(["-q", "fit", _optimetal(reference_data), "--x", "D_train", "--y", "val_loss", "--group", "model",
                 "--law", "broken", "--fix", "a=0", "--fix", "f1=1", "--space", "linear", "--weights", "seed-std",
                 "--bootstrap", "50", "--select", "--json", str(out)]) == 0
    settings = FitSettings(law="broken", fixed={"a": 0.0, "f1": 1.0}, space="linear", weights="seed-std",
                           bootstrap=50, select=True)
    document = fit_table(_optimetal(reference_data), "D_train", "val_loss", ["model"], None, settings)
    assert json.loads(json.dumps(document)) == json.loads(out.read_text())
    assert document["kind"] == "fit1d"
    assert document["columns"] == {"x": "D_train", "y": "val_loss", "group": ["model"]}
    assert document["settings"]["fixed"] == {"a": 0.0, "f1": 1.0} and document["settings"]["bootstrap"] == 50


def test_plot_reads_columns_from_the_fit_json(reference_data, tmp_path):
    fit_json = tmp_path / "fit.json"
    assert main(["-q", "fit", _optimetal(reference_data), "--x", "D_train", "--y", "val_loss", "--group", "model",
                 "--fix", "a=0", "--fix", "f1=1", "--json", str(fit_json)]) == 0
    out = tmp_path / "fig.pdf"
    assert main(["-q", "plot", "--fit", str(fit_json), "--out", str(out)]) == 0  # no --table, --x, --y, --group
    assert out.stat().st_size > 1000 and out.with_suffix(".png").exists()


def test_two_documents_say_their_kind(tmp_path):
    from table_helpers import write_grid

    table = write_grid(tmp_path / "grid.csv")
    out = tmp_path / "fit2d.json"
    assert main(["-q", "fit2d", str(table), "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                 "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["kind"] == "fit2d" and document["columns"]["n"] == "n_params"
    assert document["table"] == str(table) and "left_out" in document


def test_law_names_come_from_one_registry_without_import_side_effects():
    code = ("import sys; from scaling.analysis.laws import law_names, get_law\n"
            "names = law_names(2); loaded = 'scaling.analysis.laws2d' in sys.modules\n"
            "law = get_law('chinchilla')\n"
            "print(names, loaded, law.name, 'scaling.analysis.laws2d' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "('chinchilla', 'kaplan-broken', 'hoffmann-broken') False chinchilla True"


def test_both_group_syntaxes_agree(tmp_path):
    rows = ["a,b,x,y"] + [f"{a},{b},{x},{(1 + b) * x ** -0.3}" for a in ("p", "q") for b in (1, 2)
                          for x in (10, 30, 100, 300, 1000)]
    table = tmp_path / "t.csv"
    table.write_text("\n".join(rows) + "\n")
    docs = []
    for flags in (["--group", "a", "b"], ["--group", "a", "--group", "b"]):
        out = tmp_path / f"{len(flags)}.json"
        assert main(["-q", "fit", str(table), "--x", "x", "--y", "y", *flags, "--law", "power", "--json", str(out)]) == 0
        docs.append(json.loads(out.read_text()))
    assert docs[0]["fits"] == docs[1]["fits"] and len(docs[0]["fits"]) == 4
    for flags in (["--group", "a", "b"], ["--group", "a", "--group", "b"]):
        out = tmp_path / "fit2d_help"
        assert main(["-q", "plot", "--table", str(table), "--x", "x", "--y", "y", *flags, "--out", str(out)]) == 0


def test_intervals_print_as_brackets(reference_data, capsys):
    assert main(["fit", _optimetal(reference_data), "--x", "D_train", "--y", "val_loss", "--group", "model",
                 "--fix", "a=0", "--fix", "f1=1", "--bootstrap", "40"]) == 0
    table = capsys.readouterr().out
    lines = [line for line in table.splitlines() if "OptiMetal" in line]
    assert lines and all(" [" in line and "-> " in line for line in lines)
    assert "(0." not in table  # never "0.520 (-0.776-19.720)"


def _bending_curve(path, rng, steepen=True):
    """12 points over 3 decades; the last few bend away from the power law of the first ones (a break near the top
    of the range: steeper if `steepen`, else flattening onto a floor)."""
    x = np.geomspace(100, 1e5, 15)
    if steepen:
        y = 3 * x ** -0.2 * (1 + x / 2e4) ** -0.6
    else:
        y = 0.05 + 3 * x ** -0.35
    y = y * np.exp(0.005 * rng.standard_normal(len(x)))
    path.write_text("x,y\n" + "".join(f"{a},{b}\n" for a, b in zip(x[:12], y[:12])))
    return x[12:], y[12:]


@pytest.mark.parametrize("steepen", [True, False])
def test_select_by_holdout_picks_the_law_that_predicts_the_bend(tmp_path, steepen):
    from scaling.plot.data import evaluate_fit

    rng = np.random.default_rng(5)
    table = tmp_path / "curve.csv"
    x_future, y_future = _bending_curve(table, rng, steepen)
    document = fit_table(str(table), "x", "y", settings=FitSettings(select_by="holdout"))
    fits = document["fits"]
    scores = [f["holdout_score"] for f in fits]
    assert all(s is not None for s in scores) and scores == sorted(scores)  # ranked by the extrapolation score
    assert fits[0]["law"] != "power" and fits[0]["holdout_origins"] == 3
    power = next(f for f in fits if f["law"] == "power")

    def future_error(entry):
        return float(np.sqrt(np.mean(np.log(evaluate_fit(entry, x_future) / y_future) ** 2)))

    assert future_error(fits[0]) < 0.5 * future_error(power)


def test_select_by_holdout_reports_both_criteria(reference_data, capsys):
    assert main(["fit", _optimetal(reference_data), "--x", "D_train", "--y", "val_loss", "--group", "model",
                 "--select-by", "holdout"]) == 0
    out = capsys.readouterr().out
    assert "AICc" in out and "extrapolation RMSLE" in out


def test_importing_the_plot_package_keeps_the_users_backend():
    code = ("import matplotlib; matplotlib.use('svg'); import scaling.plot.figures, scaling.plot.style; "
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "svg"
