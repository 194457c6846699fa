"""`scaling plot` and the figure functions: files written as PDF + 300 dpi PNG, labels with units, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scaling.analysis.fitting import fit
from scaling.analysis.laws import get_law
from scaling.analysis.laws2d import KaplanBroken
from scaling.cli import main
from scaling.plot import figures, style
from table_helpers import TRUE, write_grid


@pytest.fixture(scope="module")
def fit2d_json(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit2d")
    table = write_grid(folder / "grid.csv")
    out = folder / "fit.json"
    assert main(["-q", "fit2d", str(table), "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                 "--law", "kaplan-broken", "--bootstrap", "40", "--json", str(out)]) == 0
    return out, table


def _png_dpi(path) -> float:
    from PIL import Image

    with Image.open(path) as image:
        return float(image.info["dpi"][0])


def test_each_2d_kind_writes_pdf_and_png(fit2d_json, tmp_path):
    fit_path, _ = fit2d_json
    for kind in ("surface", "data", "params", "residuals", "exponents"):
        out = tmp_path / f"{kind}.pdf"
        assert main(["-q", "plot", "--fit", str(fit_path), "--kind", kind, "--out", str(out)]) == 0
        assert out.read_bytes().startswith(b"%PDF")
        assert round(_png_dpi(out.with_suffix(".png"))) == style.PNG_DPI


def test_one_axis_fit_and_table_only(tmp_path, fit2d_json):
    _, table = fit2d_json

    frame = pd.read_csv(table)
    fits = []
    for n, rows in frame.groupby("n_params"):
        means = rows.groupby("train_size")["val_loss"].mean()
        result = fit(get_law("power+floor"), means.index.to_numpy(float), means.to_numpy())
        fits.append({"group": {"n_params": int(n)}, "law": "power+floor", "params": result.params,
                     "stderr": result.stderr, "exponents": result.exponents, "breaks": [], "breaks_ci95": []})
    fit_path = tmp_path / "fit1d.json"
    fit_path.write_text(json.dumps({"fits": fits}))
    common = ["--table", str(table), "--x", "train_size", "--y", "val_loss", "--group", "n_params"]
    assert main(["-q", "plot", "--fit", str(fit_path), *common, "--out", str(tmp_path / "a.pdf")]) == 0
    assert main(["-q", "plot", "--fit", str(fit_path), *common, "--kind", "residuals",
                 "--out", str(tmp_path / "r.pdf")]) == 0
    assert main(["-q", "plot", "--fit", str(fit_path), "--kind", "exponents", "--out", str(tmp_path / "e.pdf")]) == 0
    assert main(["-q", "plot", *common, "--out", str(tmp_path / "points")]) == 0
    for name in ("a", "r", "e", "points"):
        assert (tmp_path / f"{name}.pdf").exists() and (tmp_path / f"{name}.png").exists()


def test_axis_labels_carry_units():
    assert style.axis_label("test_energy_mae") == "energy MAE (eV/atom)"
    assert style.axis_label("test_force_mae") == "force MAE (eV/Å)"
    assert style.axis_label("test_stress_mae") == "stress MAE (GPa)"
    assert style.axis_label("val_loss", "meV/atom") == "validation loss (meV/atom)"
    assert len(set(style.ordered_colors(7))) == 7


@pytest.mark.parametrize("lo, hi", [(0.03, 1.117), (0.45, 1.7), (1.8, 5.0), (1e-3, 1e2), (0.95, 1.02)])
def test_colour_bar_ticks_are_round_and_inside(lo, hi):
    ticks = figures._round_log_ticks(lo, hi)
    assert 3 <= len(ticks) <= 7
    assert all(lo <= v <= hi for v in ticks)
    assert all(len(f"{v:g}") <= 5 for v in ticks), ticks  # 0.3, 1.5, 100: never 1.11721


def test_a_break_is_drawn_only_when_the_data_resolve_it():
    xs = np.array([10, 20, 40, 80, 160, 320.0])
    assert figures._resolved((50.0, 70.0), xs)  # two points on each side of the band
    assert not figures._resolved((9.0, 30.0), xs)  # at the first point: no regime below it
    assert not figures._resolved((15.0, 300.0), xs)  # the band spans the data
    assert not figures._resolved(None, xs)


@pytest.mark.parametrize("content, message", [("not json", "not a JSON"), ('{"fits": []}', "'fits'")])
def test_bad_fit_json_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    out = tmp_path / "x.pdf"
    assert main(["plot", "--fit", str(path), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_column_exits_2(fit2d_json, tmp_path, capsys):
    _, table = fit2d_json
    assert main(["plot", "--table", str(table), "--x", "nope", "--y", "val_loss", "--out", str(tmp_path / "x")]) == 2
    assert "'nope' not found" in capsys.readouterr().err


def _tick_label_overlaps(fig) -> list[tuple[str, str]]:
    """Pairs of drawn tick labels (major and minor) that overlap on any axis of a rendered figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    overlaps = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
            lo, hi = sorted(axis.get_view_interval())
            labels = [t.label1 for t in ticks if t.label1.get_visible() and t.label1.get_text()
                      and lo <= t.get_loc() <= hi]
            boxes = [(label.get_text(), label.get_window_extent(renderer)) for label in labels]
            overlaps += [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
                         if box_a.overlaps(box_b)]
    return overlaps


@pytest.mark.parametrize("kind", ["surface", "data", "params", "residuals", "exponents"])
@pytest.mark.parametrize("n_range", [(1.3e3, 1.6e4), (3e5, 1e8)])
def test_tick_labels_never_overlap(kind, n_range, tmp_path, monkeypatch):
    """Axes spanning one to three decades (the demo's N is 1.3k-16k) get readable, separate tick labels."""
    law, rows = KaplanBroken(), []
    for n in np.geomspace(*n_range, 3):
        for d in np.geomspace(10, 320, 6):
            rows += [(int(n), int(d), seed, law.evaluate(np.array([[n * 300, d * 400]]), TRUE)[0] * (1 + 0.02 * seed))
                     for seed in (0, 1)]
    table = tmp_path / "grid.csv"
    pd.DataFrame(rows, columns=["n_params", "train_size", "seed", "val_loss"]).to_csv(table, index=False)
    fit_path = tmp_path / "fit.json"
    assert main(["-q", "fit2d", str(table), "--n", "n_params", "--d", "train_size", "--y", "val_loss",
                 "--law", "hoffmann-broken", "--json", str(fit_path)]) == 0
    drawn = []
    save_figure = style.save_figure
    monkeypatch.setattr(style, "save_figure", lambda fig, out: drawn.append(_tick_label_overlaps(fig)) or
                        save_figure(fig, out))
    assert main(["-q", "plot", "--fit", str(fit_path), "--kind", kind, "--out", str(tmp_path / "f.pdf")]) == 0
    assert drawn == [[]], drawn


def test_an_unresolved_break_is_summarised_by_the_fits_slope_over_the_data():
    """A break at the first point: the legend gives the mean slope over the data, not regime exponents outside it."""
    entry = {"law": "broken", "params": {"a": 0.0, "b": 3.0, "c0": 1.5, "c1": -1.0, "d1": 10.0, "f1": 1.0},
             "fixed": {}}
    xs = np.array([10, 20, 40, 80, 160, 320.0])
    assert 0.5 < figures._mean_slope(entry, xs) < 1.5  # between the regime exponents (1.5 below the break, 0.5 above)
    straight = {**entry, "params": {**entry["params"], "c1": 0.0}}
    assert figures._mean_slope(straight, xs) == pytest.approx(1.5)  # no break at all: the power law's own exponent
