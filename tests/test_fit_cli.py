"""`scaling fit` through the CLI: the acceptance commands, file formats, and the bad-input list."""

import json
import math

import numpy as np
import pytest

from scaling.cli import main

PUBLISHED = {"OptiMetal2B (CGC)": (0.154, 0.42, 4.72), "OptiMetal2B (TC)": (0.18, 0.39, 4.62),
             "OptiMetal3B (TC)": (0.17, 0.38, 4.43)}
KEYS = {"group", "law", "fixed", "params", "stderr", "exponents", "breaks", "breaks_ci95", "aicc", "bic", "rmsle",
        "holdout_rmsle", "n_points", "unidentified", "exponents_ci95", "bootstrap_method", "holdout_score",
        "holdout_origins"}


def _optimetal_args(reference_data, *extra):
    return ["fit", str(reference_data / "optimetal_data_scaling_seeds.csv"), "--x", "D_train", "--y", "val_loss",
            "--group", "model", "--law", "broken", "--fix", "a=0", "--fix", "f1=1", "--space", "linear",
            "--weights", "seed-std", *extra]


def test_optimetal_acceptance_command(reference_data, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(_optimetal_args(reference_data, "--json", str(out), "--bootstrap", "200")) == 0
    fits = json.loads(out.read_text())["fits"]
    assert len(fits) == 3
    for entry in fits:
        assert set(entry) == KEYS
        a1, a2, log_dc = PUBLISHED[entry["group"]["model"]]
        assert entry["exponents"][0] == pytest.approx(a1, abs=0.01)
        assert entry["exponents"][1] == pytest.approx(a2, abs=0.015)
        assert math.log10(entry["breaks"][0]) == pytest.approx(log_dc, abs=0.02)
        lo, hi = entry["breaks_ci95"][0]
        assert lo < entry["breaks"][0] < hi
        assert entry["n_points"] == 7 and entry["holdout_rmsle"] is None
        assert entry["fixed"] == {"a": 0.0, "f1": 1.0}
    table = capsys.readouterr().out
    assert "OptiMetal3B (TC)" in table and "AICc" in table and "broken (a=0, f1=1)" in table


@pytest.mark.parametrize("with_fixes", [True, False])
def test_select_ranks_a_broken_law_first(reference_data, tmp_path, with_fixes):
    out = tmp_path / "sel.json"
    args = _optimetal_args(reference_data, "--select", "--json", str(out))
    if not with_fixes:
        args = [a for a in args if a not in ("--fix", "a=0", "f1=1")]
    assert main(args) == 0
    fits = json.loads(out.read_text())["fits"]
    firsts = {}
    for entry in fits:
        firsts.setdefault(entry["group"]["model"], entry)
    assert len(firsts) == 3
    assert all(entry["law"] == "broken" for entry in firsts.values())
    assert firsts["OptiMetal2B (CGC)"]["aicc"] == pytest.approx(-57.74, abs=0.01)


def test_bnsl_holdout(reference_data, tmp_path):
    out = tmp_path / "bnsl.json"
    assert main(["fit", str(reference_data / "bnsl_4digit_addition.csv"), "--x", "dataset_size", "--y",
                 "test_cross_entropy", "--law", "broken", "--holdout-last", "3", "--json", str(out)]) == 0
    entry = json.loads(out.read_text())["fits"][0]
    assert entry["n_points"] == 14
    assert entry["rmsle"] <= 6.0e-4 * 1.05
    assert entry["holdout_rmsle"] == pytest.approx(1.1e-2, rel=0.1)


@pytest.fixture()
def table(tmp_path):
    """A small synthetic sweep table: two archs, 8 sizes, 3 seeds, a broken law."""
    rng = np.random.default_rng(1)
    rows = ["arch,train_size,seed,val_loss"]
    for arch, c0 in (("twobody", 0.15), ("threebody", 0.2)):
        for d in np.geomspace(1e2, 1e5, 8):
            for seed in range(3):
                y = 2 * d**-c0 * (1 + d / 3e3) ** -0.3 * (1 + 0.01 * rng.standard_normal())
                rows.append(f"{arch},{d:.0f},{seed},{y:.6f}")
    path = tmp_path / "results.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_parquet_jsonl_and_where(table, tmp_path):
    import pandas as pd

    frame = pd.read_csv(table)
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    results = []
    for source in (table, tmp_path / "t.parquet", tmp_path / "t.jsonl"):
        out = tmp_path / f"{source.suffix}.json"
        assert main(["-q", "fit", str(source), "--x", "train_size", "--y", "val_loss", "--group", "arch",
                     "--fix", "a=0", "--json", str(out)]) == 0
        results.append(json.loads(out.read_text())["fits"])
    assert [f["group"] for f in results[0]] == [{"arch": "twobody"}, {"arch": "threebody"}]
    for other in results[1:]:
        assert [f["params"]["c0"] for f in other] == pytest.approx([f["params"]["c0"] for f in results[0]])
    out = tmp_path / "where.json"
    assert main(["fit", str(table), "--x", "train_size", "--y", "val_loss", "--where", "arch == 'threebody'",
                 "--json", str(out)]) == 0
    fits = json.loads(out.read_text())["fits"]
    assert len(fits) == 1 and fits[0]["n_points"] == 8


def _write(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _good_rows(n=8):
    return "".join(f"{10 ** (1 + i / 2):.0f},{1 / (1 + i)}\n" for i in range(n))


BAD_INPUTS = {
    "missing file": (None, ["--x", "x", "--y", "y"], "file not found"),
    "missing column": ("x,y\n" + _good_rows(), ["--x", "x", "--y", "loss"], "column 'loss' not found"),
    "non-numeric": ("x,y\n" + _good_rows() + "1e5,abc\n", ["--x", "x", "--y", "y"], "'abc' is not a number"),
    "non-positive y": ("x,y\n" + _good_rows() + "1e5,0\n", ["--x", "x", "--y", "y"], "is not positive"),
    "nan": ("x,y\n" + _good_rows() + "1e5,nan\n", ["--x", "x", "--y", "y"], "is not finite"),
    "inf": ("x,y\n" + _good_rows() + "inf,1\n", ["--x", "x", "--y", "y"], "is not finite"),
    "too few points": ("x,y\n" + _good_rows(4), ["--x", "x", "--y", "y", "--law", "broken"], "fewer than the"),
    "single x": ("g,x,y\na,10,1\na,10,2\nb,10,1\nb,100,0.5\n", ["--x", "x", "--y", "y", "--group", "g",
                                                                 "--law", "power"], "a single x value"),
    "unknown law": ("x,y\n" + _good_rows(), ["--x", "x", "--y", "y", "--law", "cubic"], "unknown law"),
    "unknown fix": ("x,y\n" + _good_rows(), ["--x", "x", "--y", "y", "--fix", "z=1"], "no parameter 'z'"),
    "bad fix": ("x,y\n" + _good_rows(), ["--x", "x", "--y", "y", "--fix", "a"], "expected NAME=NUMBER"),
    "seed-std with one seed": ("x,y\n" + _good_rows(), ["--x", "x", "--y", "y", "--weights", "seed-std"],
                               "needs >= 2 seeds"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_one_line_exit_2_no_output(case, tmp_path, capsys):
    text, flags, message = BAD_INPUTS[case]
    path = tmp_path / "absent.csv" if text is None else _write(tmp_path, text)
    out = tmp_path / "out.json"
    assert main(["fit", str(path), *flags, "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_plot_writes_pdf_and_png(table, tmp_path):
    out = tmp_path / "fit.pdf"
    assert main(["-q", "fit", str(table), "--x", "train_size", "--y", "val_loss", "--group", "arch", "--fix", "a=0",
                 "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000 and out.with_suffix(".png").stat().st_size > 1000


def test_default_path_imports_only_numpy(table):
    """`scaling fit` on a CSV loads no pandas, scipy, lmfit or matplotlib (they cost seconds of start-up)."""
    import subprocess
    import sys

    code = ("import sys, io, contextlib; from scaling.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()): rc = main(['fit', {str(table)!r}, '--x', 'train_size', "
            "'--y', 'val_loss', '--group', 'arch', '--bootstrap', '40'])\n"
            "heavy = [m for m in ('pandas', 'scipy', 'lmfit', 'matplotlib', 'torch') if m in sys.modules]\n"
            "print(rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0 []"
