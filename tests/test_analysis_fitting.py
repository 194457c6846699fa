"""The engine reproduces the published fits of the reference README (OptiMetal, BNSL 4-digit addition)."""

import csv
import math

import numpy as np
import pytest

from scaling.analysis.fitting import fit
from scaling.analysis.laws import Law, Parameter, get_law
from scaling.analysis.selection import build_law, candidate_laws
from scaling.analysis.table import curves, read_table

# README: (a1, a2, log10 Dc, AICc of power / power+floor / broken / broken+amplitude)
PUBLISHED = {
    "OptiMetal2B (CGC)": (0.154, 0.42, 4.72, (-36.20, -29.20, -57.74, -49.89)),
    "OptiMetal2B (TC)": (0.18, 0.39, 4.62, (-34.87, -27.87, -44.88, -38.72)),
    "OptiMetal3B (TC)": (0.17, 0.38, 4.43, (-39.91, -32.91, -57.70, -48.48)),
}
GROSSMANN = {"a": 0.0, "f1": 1.0}


@pytest.fixture(scope="module")
def optimetal(reference_data):
    table = read_table(reference_data / "optimetal_data_scaling_seeds.csv")
    return {c.group["model"]: c for c in curves(table, "D_train", "val_loss", ["model"])}


def _bnsl(reference_data):
    with open(reference_data / "bnsl_4digit_addition.csv") as handle:
        rows = list(csv.DictReader(handle))
    pick = lambda split: (np.array([float(r["dataset_size"]) for r in rows if (r["split"] == "fit") == split]),  # noqa: E731
                          np.array([float(r["test_cross_entropy"]) for r in rows if (r["split"] == "fit") == split]))
    return pick(True), pick(False)


@pytest.mark.parametrize("model", list(PUBLISHED))
def test_optimetal_published_fit_and_aicc(optimetal, model):
    a1, a2, log_dc, aiccs = PUBLISHED[model]
    curve = optimetal[model]
    result = fit(build_law("broken", 1, GROSSMANN), curve.x, curve.y, sigma=curve.y_std, space="linear",
                 fixed=GROSSMANN)
    assert result.k == 3
    assert result.exponents[0] == pytest.approx(a1, abs=0.01)
    assert result.exponents[1] == pytest.approx(a2, abs=0.015)
    assert math.log10(result.breaks[0]) == pytest.approx(log_dc, abs=0.02)
    for (law, fixed), published in zip(candidate_laws(1, GROSSMANN), aiccs):
        other = fit(law, curve.x, curve.y, sigma=curve.y_std, space="linear", fixed=fixed)
        assert other.aicc == pytest.approx(published, abs=0.01), law.name


def test_optimetal_stderr_matches_curve_fit(optimetal):
    """curve_fit with absolute_sigma=False gives D_c = 52.4k +- 2.1k and a2 = 0.42 +- 0.01 for 2B (CGC)."""
    curve = optimetal["OptiMetal2B (CGC)"]
    result = fit(build_law("broken", 1, GROSSMANN), curve.x, curve.y, sigma=curve.y_std, space="linear",
                 fixed=GROSSMANN)
    assert result.stderr["d1"] == pytest.approx(2120, rel=0.02)
    assert result.stderr["f1"] is None


def test_bnsl_4digit_rmsle(reference_data):
    (x, y), (x_held, y_held) = _bnsl(reference_data)
    result = fit(get_law("broken"), x, y)
    assert result.rmsle <= 6.0e-4 * 1.05
    assert result.params["d1"] == pytest.approx(612.6, rel=0.01)


def test_lm_and_lmfit_agree_on_reference_fits(reference_data, optimetal):
    (x, y), _ = _bnsl(reference_data)
    ours, theirs = (fit(get_law("broken"), x, y, optimizer=o) for o in ("lm", "lmfit"))
    assert theirs.rmsle == pytest.approx(ours.rmsle, rel=1e-3)
    np.testing.assert_allclose(theirs.theta, ours.theta, rtol=2e-2, atol=1e-3)
    curve = optimetal["OptiMetal3B (TC)"]
    law = build_law("broken", 1, GROSSMANN)
    a, b = (fit(law, curve.x, curve.y, sigma=curve.y_std, space="linear", fixed=GROSSMANN, optimizer=o)
            for o in ("lm", "lmfit"))
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-4)


def test_huber_sum_and_mean_share_the_minimiser():
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e4, 12)
    y = 3 * x**-0.3 * np.exp(0.01 * rng.standard_normal(12))
    y[4] *= 1.5  # an outlier
    law = get_law("power")
    mean, total = (fit(law, x, y, loss="huber", huber_delta=1e-2, huber_reduction=r) for r in ("mean", "sum"))
    np.testing.assert_allclose(mean.theta, total.theta, rtol=1e-8)
    assert total.objective == pytest.approx(mean.objective * 12)
    plain = fit(law, x, y)
    assert abs(mean.params["c"] - 0.3) < abs(plain.params["c"] - 0.3)


class _Chinchilla2D(Law):
    """A two-axis test law: L = E + A/N^alpha + B/D^beta, x of shape [n, 2]."""

    name = "test-2d"
    n_inputs = 2
    parameters = (Parameter("E", "log", 0, np.inf), Parameter("A", "log", 0, np.inf), Parameter("B", "log", 0, np.inf),
                  Parameter("alpha", "linear", 0, 3), Parameter("beta", "linear", 0, 3))

    def evaluate(self, x, theta):
        e, a, b, al, be = (theta[..., i : i + 1] for i in range(5))
        return e + a * x[:, 0] ** -al + b * x[:, 1] ** -be

    def initial_guesses(self, x, y):
        return np.array([[e, 10.0, 10.0, al, be] for e in (0.5 * y.min(), 0.9 * y.min()) for al in (0.2, 0.5)
                         for be in (0.2, 0.5)])


def test_engine_fits_two_axis_laws_with_summed_huber():
    n, d = np.meshgrid(np.geomspace(1e5, 1e8, 5), np.geomspace(1e4, 1e7, 5))
    x = np.stack([n.ravel(), d.ravel()], axis=1)
    truth = np.array([1.7, 400.0, 2000.0, 0.34, 0.37])
    law = _Chinchilla2D()
    y = law.evaluate(x, truth)
    result = fit(law, x, y, loss="huber", huber_delta=1e-3, huber_reduction="sum")
    np.testing.assert_allclose(result.theta, truth, rtol=1e-3)
    assert result.exponents == [] and result.breaks == []


def test_fixed_parameters_and_errors():
    x = np.geomspace(10, 1e4, 8)
    y = 0.5 + 3 * x**-0.4
    result = fit(get_law("power+floor"), x, y, fixed={"a": 0.5})
    assert result.k == 2 and result.params["a"] == 0.5
    assert result.params["c"] == pytest.approx(0.4, abs=1e-6)
    from scaling.errors import InputError

    with pytest.raises(InputError, match="no parameter 'q'"):
        fit(get_law("power"), x, y, fixed={"q": 1})
    with pytest.raises(InputError, match="fewer than the 6 free parameters"):
        fit(get_law("broken"), x[:4], y[:4])


def test_bounds_override():
    x = np.geomspace(10, 1e4, 8)
    y = 3 * x**-0.4
    result = fit(get_law("power"), x, y, bounds={"c": (0.0, 0.3)})
    assert result.params["c"] == pytest.approx(0.3, abs=1e-3)
