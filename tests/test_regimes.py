"""Regimes in words (scaling.analysis.regimes): named only where a break or crossover is resolved inside the data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from scaling.analysis.fit1d import FitSettings, fit_table
from scaling.analysis.regimes import break_resolved, describe_breaks, describe_crossover

D_GRID = np.array([10, 20, 40, 80, 160, 320, 480.0])


def _entry(breaks, ci, exponents):
    return {"group": {"n_params": 1309}, "law": "broken", "breaks": breaks, "breaks_ci95": [ci],
            "exponents": exponents, "stderr": {}}


def test_a_flattening_d_curve_is_data_limited_then_capacity_limited():
    words = describe_breaks(_entry([80.0], [60.0, 110.0], [0.91, 0.05]), D_GRID, "train_size")
    assert words == ("data-limited (alpha = 0.91) below D = 80 [60, 110], "
                     "capacity-limited (alpha = 0.05) above")
    short = describe_breaks(_entry([80.0], [60.0, 110.0], [0.91, 0.05]), D_GRID, "train_size", False)
    assert short == "data-limited below D = 80 [60, 110], capacity-limited above"


def test_over_n_the_regimes_swap():
    words = describe_breaks(_entry([2000.0], [1500.0, 2500.0], [1.2, 0.1]), [500, 900, 1300, 3000, 5000.0],
                            "n_params")
    assert words.startswith("capacity-limited (alpha = 1.20) below N = 2e+03") and "data-limited" in words


def test_no_regime_is_named_without_a_resolved_break_or_when_the_curve_steepens():
    assert describe_breaks(_entry([25.0], [15.0, 40.0], [0.9, 0.1]), D_GRID, "train_size") is None  # 1 point below
    assert describe_breaks(_entry([80.0], [12.0, 400.0], [0.9, 0.1]), D_GRID, "train_size") is None  # spans data
    assert describe_breaks(_entry([80.0], [None, None], [0.9, 0.1]), D_GRID, "train_size") is None  # no band
    kink = {**_entry([80.0], [79.9, 90.0], [0.9, 0.1]), "unidentified": ["f1"]}  # sharpness at its bound
    assert describe_breaks(kink, D_GRID, "train_size") is None
    steeper = describe_breaks(_entry([80.0], [60.0, 110.0], [0.2, 0.9]), D_GRID, "train_size")
    assert "limited" not in steeper and "0.20 below D = 80 [60, 110]" in steeper
    assert not break_resolved((9.0, 30.0), D_GRID)


def test_a_fitted_saturating_curve_is_described(tmp_path):
    """A broken power law fitted to a curve that falls as D^-0.9 and then saturates at D = 70 (3 seeds, 2% noise):
    the demo's own fit call places the break with regimes on both sides."""
    rng = np.random.default_rng(0)
    rows = [{"n_params": 1309, "train_size": d, "seed": s, "status": "done",
             "val_loss": 3.0 * d ** -0.9 * (1 + (d / 70.0) ** (1 / 0.3)) ** (0.9 * 0.3) * np.exp(rng.normal(0, 0.02))}
            for d in D_GRID for s in (0, 1, 2)]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    settings = FitSettings(law="broken+amplitude", fixed={"a": 0.0, "f1": 1.0}, bootstrap=100)
    entry = fit_table(str(tmp_path / "t.csv"), "train_size", "val_loss", ["n_params"], None, settings)["fits"][0]
    words = describe_breaks(entry, D_GRID, "train_size")
    assert words is not None and words.startswith("data-limited") and "capacity-limited" in words


def _surface_entry(band_factor):
    d_x = np.array([30.0, 60.0, 120.0, 240.0])  # crossover D_x on a grid of N
    n = np.array([500.0, 1000.0, 2000.0, 4000.0])
    return {"group": {"arch": "twobody"}, "points": [{"n": m, "d": d} for m in (1000.0, 2000.0) for d in D_GRID],
            "crossover": {"n": n.tolist(), "d": d_x.tolist(),
                          "d_ci95": [[v / band_factor, v * band_factor] for v in d_x]}}


def test_a_crossover_is_named_where_its_band_leaves_two_data_d_each_side():
    sentences = describe_crossover(_surface_entry(1.2))
    assert sentences == ["N = 1e+03: data-limited below D_x = 60 [50, 72], capacity-limited above",
                         "N = 2e+03: data-limited below D_x = 120 [100, 144], capacity-limited above"]
    assert describe_crossover(_surface_entry(4.0)) == []  # bands too wide
    assert describe_crossover({**_surface_entry(1.2), "crossover": None}) == []  # withheld


def test_the_demo_prints_regimes_from_its_outputs(tmp_path):
    from scaling.commands.demo import regime_sentences

    table = pd.DataFrame([{"arch": "twobody", "n_params": 1309, "train_size": d, "status": "done", "val_loss": 1.0}
                          for d in D_GRID])
    table.to_csv(tmp_path / "results.csv", index=False)
    fits = [{**_entry([80.0], [60.0, 110.0], [0.91, 0.05]), "group": {"arch": "twobody", "n_params": 1309}}]
    (tmp_path / "fit_data.json").write_text(json.dumps({"fits": fits}))
    (tmp_path / "fit2d.json").write_text(json.dumps({"fits": [{**_surface_entry(4.0), "withheld": {}}]}))
    sentences = regime_sentences(tmp_path)
    assert sentences[0].endswith("data-limited (alpha = 0.91) below D = 80 [60, 110], "
                                 "capacity-limited (alpha = 0.05) above")
    assert "2D crossover D_x(N): not resolved" in sentences[1]


def _legend_texts(monkeypatch) -> list[str]:
    """Every legend text of the figures saved while the test runs (read off the figure just before it is saved)."""
    from scaling.plot import style

    texts, save = [], style.save_figure

    def record(fig, out_path):
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
        texts.extend(t.get_text() for legend in legends for t in legend.get_texts())
        return save(fig, out_path)

    monkeypatch.setattr(style, "save_figure", record)
    return texts


def test_the_fit_figure_names_the_regimes_of_a_resolved_break_only(tmp_path, monkeypatch):
    from scaling.outputs import use_file_backend

    use_file_backend()
    from scaling.plot.figures import plot_fit1d

    texts = _legend_texts(monkeypatch)
    table = pd.DataFrame([{"arch": "twobody", "n_params": n, "train_size": d, "seed": 0, "val_loss": 1.0 / d}
                          for n in (1309, 4529) for d in D_GRID])
    law = {"law": "broken", "params": {"a": 0.0, "b": 1.0, "c0": 0.91, "c1": -0.86, "d1": 80.0, "f1": 1.0}}
    resolved = {**_entry([80.0], [60.0, 110.0], [0.91, 0.05]), **law, "group": {"arch": "twobody", "n_params": 1309}}
    unresolved = {**_entry([80.0], [12.0, 400.0], [0.91, 0.05]), **law,
                  "group": {"arch": "twobody", "n_params": 4529}}
    plot_fit1d(table, {"fits": [resolved, unresolved]}, tmp_path / "f.pdf", x="train_size", y="val_loss",
               group=["arch", "n_params"])
    worded = [t for t in texts if "data-limited below D = 80 [60, 110], capacity-limited above" in t]
    assert len(worded) == 1 and "1.31k" in worded[0]
    assert not any("limited" in t for t in texts if "4.53k" in t)
