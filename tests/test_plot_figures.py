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


# ------------------------------------------------------------------- figures a reader can trust (issue 14, item 9)
def _capture_figures(monkeypatch) -> list:
    """Figures as save_figure receives them (drawn, not closed), for inspection."""
    kept = []

    def keep(fig, out):
        fig.canvas.draw()
        kept.append(fig)
        return []

    monkeypatch.setattr(style, "save_figure", keep)
    return kept


def _two_arch_table() -> pd.DataFrame:
    rows = []
    for arch, scale in (("twobody", 1.0), ("threebody", 0.7)):
        for n in (1300, 16000):
            for d in (30, 45, 60, 75, 90):
                for seed in (0, 1):
                    rows.append((arch, n, d, seed, scale * (2.0 * d**-0.5 + 3000 / n * 0.01) * (1 + 0.02 * seed)))
    return pd.DataFrame(rows, columns=["arch", "n_params", "train_size", "seed", "val_loss"])


def _power_fits(frame: pd.DataFrame) -> list[dict]:
    fits = []
    for (arch, n), rows in frame.groupby(["arch", "n_params"], sort=False):
        means = rows.groupby("train_size")["val_loss"].mean()
        result = fit(get_law("power"), means.index.to_numpy(float), means.to_numpy())
        fits.append({"group": {"arch": arch, "n_params": int(n)}, "law": "power", "params": result.params,
                     "stderr": result.stderr, "exponents": result.exponents, "breaks": [], "breaks_ci95": []})
    return fits


def test_two_architectures_in_one_panel_differ_in_marker_and_line_style(monkeypatch):
    figs = _capture_figures(monkeypatch)
    frame = _two_arch_table()
    figures.plot_fit1d(frame, {"fits": _power_fits(frame)}, "unused", x="train_size", y="val_loss",
                       group=["arch", "n_params"])
    ax = figs[0].axes[0]
    markers = {line.get_marker() for line in ax.lines
               if line.get_linestyle() == "None" and line.get_marker() not in ("_", "|")}  # not error-bar caps
    styles = {line.get_linestyle() for line in ax.lines if line.get_linestyle() != "None"}
    assert len(markers) == 2 and len(styles) == 2, (markers, styles)
    legend = ax.get_legend() or figs[0].legends[0]
    handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
    twobody = {h.get_marker() for h, t in zip(handles, labels) if t.startswith("twobody")}
    threebody = {h.get_marker() for h, t in zip(handles, labels) if t.startswith("threebody")}
    assert len(twobody) == 1 and len(threebody) == 1 and twobody != threebody  # the legend shows the same code


def test_short_log_axes_have_plain_round_tick_labels(monkeypatch):
    """D from 30 to 90 (half a decade): ticks read 30, 50 ... not 4x10^1, 6x10^1."""
    figs = _capture_figures(monkeypatch)
    frame = _two_arch_table()
    figures.plot_fit1d(frame, {"fits": _power_fits(frame)}, "unused", x="train_size", y="val_loss",
                       group=["arch", "n_params"])
    ax = figs[0].axes[0]
    for axis in (ax.xaxis, ax.yaxis):
        lo, hi = sorted(axis.get_view_interval())
        texts = [t.label1.get_text() for t in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
                 if t.label1.get_visible() and t.label1.get_text() and lo <= t.get_loc() <= hi]
        assert len(texts) >= 2, texts
        assert not any("times" in t or "10^" in t for t in texts), texts


def test_the_loss_axis_says_what_the_validation_loss_is():
    from scaling.train.config import TrainConfig

    label = style.axis_label("val_loss")
    defaults = TrainConfig(params=1000)
    for weight in (defaults.energy_weight, defaults.force_weight, defaults.stress_weight):
        assert f"{weight:g}" in label or weight == 1.0
    for unit in ("eV/atom", "eV/Å", "GPa"):
        assert unit in label


def test_surface_points_are_coloured_by_their_residual_on_their_own_scale(fit2d_json, monkeypatch):
    figs = _capture_figures(monkeypatch)
    fit_path, _ = fit2d_json
    document = json.loads(fit_path.read_text())
    figures.plot_surface(document, "unused")
    ax = figs[0].axes[0]
    filled = [c for c in ax.collections if hasattr(c, "levels")][0]
    points = [c for c in ax.collections if c.__class__.__name__ == "PathCollection"][0]
    assert points.get_cmap().name != filled.get_cmap().name  # not the background's scale
    assert points.norm.vmin == pytest.approx(-points.norm.vmax)  # residuals: symmetric about zero
    assert np.all(points.get_linewidths() > 0) and np.allclose(points.get_edgecolors()[:, :3], 0)  # edged
    entry = document["fits"][0]
    pts = pd.DataFrame(entry["points"])
    from scaling.plot.data import evaluate_fit

    residual = np.log(pts["y"] / evaluate_fit(entry, pts[["n", "d"]].to_numpy(float)))
    assert np.allclose(np.sort(points.get_array()), np.sort(residual))
    bars = [a for a in figs[0].axes if "residual" in a.get_ylabel() + a.get_xlabel()]
    assert bars  # the residual scale has a labelled colour bar


def test_legends_list_only_what_is_drawn(fit2d_json, monkeypatch):
    """A crossover line and compute-optimal path that fall outside the grid are left out of the legend."""
    figs = _capture_figures(monkeypatch)
    fit_path, _ = fit2d_json
    document = json.loads(fit_path.read_text())
    for entry in document["fits"]:
        entry["crossover"] = {"n": [1e12, 1e13], "d": [1e12, 1e13]}
        entry["compute_optimal"] = {"n_opt": [1e12, 1e13], "d_opt": [1e12, 1e13], "c": [1.0, 2.0]}
    figures.plot_surface(document, "unused")
    figures.plot_slices(document, "unused", axis="D")
    for fig in figs:
        labels = [t.get_text() for legend in [*fig.legends, *(a.get_legend() for a in fig.axes)] if legend
                  for t in legend.get_texts()]
        assert not any("crossover" in t or "compute-optimal" in t for t in labels), labels


def test_the_surface_names_the_regimes_either_side_of_the_crossover(fit2d_json, monkeypatch):
    figs = _capture_figures(monkeypatch)
    document = json.loads(fit2d_json[0].read_text())
    entry = document["fits"][0]
    pts = pd.DataFrame(entry["points"])
    n_mid, d_mid = float(np.sqrt(pts["n"].min() * pts["n"].max())), float(np.sqrt(pts["d"].min() * pts["d"].max()))
    entry["crossover"] = {"n": [n_mid / 100, n_mid * 100], "d": [d_mid / 100, d_mid * 100]}  # through the middle
    figures.plot_surface(document, "unused")
    texts = {t.get_text() for t in figs[0].axes[0].texts}
    assert {"data-limited", "capacity-limited"} <= texts
    entry["crossover"] = {"n": [1e12, 1e13], "d": [1e12, 1e13]}  # outside the grid: one regime, no names
    figures.plot_surface(document, "unused")
    assert not {"data-limited", "capacity-limited"} & {t.get_text() for t in figs[1].axes[0].texts}


def test_curves_of_one_architecture_are_coloured_in_order_of_n(monkeypatch):
    """arch=twobody in every group says nothing: colour follows N along viridis, as with one group column."""
    figs = _capture_figures(monkeypatch)
    frame = _two_arch_table()
    frame = frame[frame["arch"] == "twobody"]
    figures.plot_fit1d(frame, {"fits": _power_fits(frame)}, "unused", x="train_size", y="val_loss",
                       group=["arch", "n_params"])
    fitted = [line for line in figs[0].axes[0].lines if line.get_linestyle() == "-"]
    assert [line.get_color() for line in fitted] == style.ordered_colors(2)
