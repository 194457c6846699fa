"""fit, fit2d and plot against hostile or broken input: `--where` is a filter language that runs no code, bad
outputs and options are refused with one line and exit 2 before any work, and a collected table with failed cells
fits its done rows."""

import json

import numpy as np
import pytest

from scaling.analysis.where import Filter
from scaling.cli import main
from scaling.errors import InputError

ATTACKS = [
    "@pd.io.parquet.os.system('touch pwned')",
    "@frame.to_csv('pwned')",
    "@pd.read_csv('/etc/passwd')",
    "__import__('os').system('touch pwned')",
    "arch.__class__",
    "(lambda: open('pwned', 'w'))()",
    "[open('pwned', 'w') for _ in [1]]",
    "arch[0] == 't'",
    "train_size > 0 and open('pwned', 'w')",
    "arch in train_size",
]


@pytest.fixture()
def table(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["arch,n_params,train_size,seed,val_loss,status"]
    for arch in ("twobody", "threebody"):
        for n in (1e3, 1e4, 1e5):
            for d in (30, 100, 300, 1000, 3000):
                for seed in (0, 1):
                    y = 0.1 + 5 * n ** -0.3 + 20 * d ** -0.4
                    rows.append(f"{arch},{n:.0f},{d},{seed},{y * (1 + 0.01 * rng.standard_normal()):.6f},done")
    path = tmp_path / "results.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _commands(table, where):
    return [
        ["fit", str(table), "--x", "train_size", "--y", "val_loss", "--law", "power", "--where", where],
        ["fit2d", str(table), "--n", "n_params", "--d", "train_size", "--y", "val_loss", "--where", where],
        ["plot", "--table", str(table), "--x", "train_size", "--y", "val_loss", "--where", where, "--out", "p.pdf"],
    ]


@pytest.mark.parametrize("attack", ATTACKS)
def test_where_runs_no_code(attack, table, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in _commands(table, attack):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--where" in err, err
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "p.pdf").exists()


@pytest.mark.parametrize("where, rows", [
    ("arch == 'threebody'", 30),
    ("arch in ['twobody'] and not (seed == 1)", 15),
    ("train_size * 2 >= 600 or n_params < 2e3", 44),
    ("`val_loss` < 1 & (seed != 0)", None),
    ("100 < train_size <= 1000", 24),
    ("arch not in ('twobody',) and -train_size > -100", 6),
])
def test_where_filters_like_pandas_query(where, rows, table):
    import pandas as pd

    frame = pd.read_csv(table)
    columns = {name: frame[name].astype(str).tolist() for name in frame.columns}  # as the CSV reader gives them
    mask = Filter(where).mask(columns, str(table))
    expected = frame.eval(where).to_numpy()  # the reference semantics, on our own trusted strings only
    assert mask.tolist() == expected.tolist()
    if rows is not None:
        assert int(mask.sum()) == rows


def test_backquoted_column_names(tmp_path):
    mask = Filter("`val loss` > 1 and `n-params` == 3").mask({"val loss": ["0.5", "2", "3"], "n-params": ["3", "3", "4"]})
    assert mask.tolist() == [False, True, False]


def test_unknown_column_in_where_is_one_line(table, capsys):
    assert main(["fit", str(table), "--x", "train_size", "--y", "val_loss", "--where", "nope > 1"]) == 2
    assert "column 'nope' not found" in capsys.readouterr().err


BAD = {
    "json is a directory": (["fit", "{table}", "--x", "train_size", "--y", "val_loss", "--json", "{dir}"],
                            "is a directory"),
    "fit2d json is a directory": (["fit2d", "{table}", "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                                   "--json", "{dir}"], "is a directory"),
    "plot out is a directory": (["plot", "--table", "{table}", "--x", "train_size", "--y", "val_loss",
                                 "--out", "{dir}"], "is a directory"),
    "plot fit is a directory": (["plot", "--fit", "{dir}", "--out", "x.pdf"], "is a directory"),
    "bootstrap 1": (["fit", "{table}", "--x", "train_size", "--y", "val_loss", "--bootstrap", "1"],
                    "at least 40 replicates"),
    "fit2d bootstrap 1": (["fit2d", "{table}", "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                           "--bootstrap", "1"], "at least 40 replicates"),
    "bootstrap 1e12": (["fit", "{table}", "--x", "train_size", "--y", "val_loss", "--bootstrap", str(10**12)],
                       "held in memory"),
    "power with breaks": (["fit", "{table}", "--x", "train_size", "--y", "val_loss", "--law", "power",
                           "--breaks", "3"], "has no breaks"),
    "plot extension": (["fit", "{table}", "--x", "train_size", "--y", "val_loss", "--json", "{out}",
                        "--plot", "f.txt"], "unknown figure extension"),
    "fit2d plot extension": (["fit2d", "{table}", "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                              "--json", "{out}", "--plot", "f.txt"], "unknown figure extension"),
    "fit2d names --n": (["fit2d", "{table}", "--n", "params", "--d", "train_size", "--y", "val_loss"],
                        "--n column 'params' not found"),
    "fit2d names --d": (["fit2d", "{table}", "--n", "n_params", "--d", "size", "--y", "val_loss"],
                        "--d column 'size' not found"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_options_one_line_exit_2_nothing_written(case, table, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "folder"
    folder.mkdir()
    out = tmp_path / "out.json"
    argv, message = BAD[case]
    argv = [a.format(table=table, dir=folder, out=out) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists() and list(folder.iterdir()) == []
    assert not list(tmp_path.glob("f.*"))


def test_plot_with_a_table_lacking_the_fits_group_column(table, tmp_path, capsys):
    fit_json = tmp_path / "fit.json"
    assert main(["-q", "fit", str(table), "--x", "train_size", "--y", "val_loss", "--group", "arch", "--law", "power",
                 "--json", str(fit_json)]) == 0
    other = tmp_path / "other.csv"
    other.write_text("train_size,val_loss\n10,1\n100,0.5\n")
    assert main(["plot", "--fit", str(fit_json), "--table", str(other), "--out", str(tmp_path / "f.pdf")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "column 'arch' not found" in err


def test_plot_with_nan_y(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("train_size,val_loss\n10,1\n100,nan\n1000,0.2\n")
    assert main(["plot", "--table", str(bad), "--x", "train_size", "--y", "val_loss", "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "row 2" in err and "not a finite number" in err
    assert not (tmp_path / "f.pdf").exists()


def test_failed_cells_are_left_out_and_counted(table, tmp_path, capsys):
    text = table.read_text().splitlines()
    text += ["twobody,100000,3000,2,,failed", "twobody,1000,30,2,,failed", "threebody,1000,30,2,,pending"]
    table.write_text("\n".join(text) + "\n")
    for argv in (["fit", str(table), "--x", "train_size", "--y", "val_loss", "--group", "arch", "--law", "power"],
                 ["fit2d", str(table), "--n", "n_params", "--d", "train_size", "--y", "val_loss", "--group", "arch"]):
        out = tmp_path / "out.json"
        assert main([*argv, "--json", str(out)]) == 0
        err = capsys.readouterr().err
        assert "3 row(s) whose status is not 'done' left out (failed: 2, pending: 1)" in err
        assert json.loads(out.read_text())["left_out"] == {"status": {"failed": 2, "pending": 1}}
    out = tmp_path / "p.pdf"
    assert main(["-q", "plot", "--fit", str(tmp_path / "out.json"), "--kind", "data", "--out", str(out)]) == 0
    # naming status in --where chooses the rows: the failed rows are then the user's to keep (and here fail)
    assert main(["fit", str(table), "--x", "train_size", "--y", "val_loss", "--where", "status != 'done'"]) == 2
    assert "is not a number" in capsys.readouterr().err


def test_where_is_refused_before_the_table_is_read(tmp_path):
    with pytest.raises(InputError, match="a call is not allowed"):
        from scaling.analysis.table import read_table

        read_table(tmp_path / "absent.csv", "__import__('os')")


def test_where_refuses_text_arithmetic_and_mixed_ordering():
    columns = {"x": ["1", "2", "3"], "arch": ["a", "b", "c"]}
    for text in ("arch * 100000000 == 'a'", "x < 'b'", "x + 1"):
        with pytest.raises(InputError, match="--where"):
            Filter(text).mask(columns, "t.csv")
    assert Filter("arch < 'b' or x % 2 == 0").mask(columns).tolist() == [True, True, False]


def test_where_compares_a_numeric_column_with_missing_values(tmp_path):
    """A collected table leaves a metric empty where a cell has none (failed, or undefined for that model): the
    column stays numeric, and the empty cells are simply not kept by a comparison."""
    from scaling.analysis.where import Filter

    columns = {"status": ["done", "done", "failed", "done"], "metric": ["0.5", "", "", "2.0"]}
    assert Filter("status == 'done' and metric > 0").mask(columns).tolist() == [True, False, False, True]
    assert Filter("not (metric > 1)").mask(columns).tolist() == [True, True, True, False]
