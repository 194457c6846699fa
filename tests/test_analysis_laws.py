"""Laws: formulas against the README's equivalences, vectorised shapes, the registry."""

import numpy as np
import pytest

from scaling.analysis.laws import get_law, law_names
from scaling.errors import InputError

X = np.geomspace(1e3, 1e6, 9)


def test_broken_equals_astropy_smoothly_broken_power_law():
    """README: astropy's SmoothlyBrokenPowerLaw1D = BNSL with a=0, d1=x_b, f1=delta, c0=a1, c1=a2-a1."""
    amplitude, x_b, a1, a2, delta = 3.0, 2e4, 0.2, 0.6, 0.3
    astropy = amplitude * (X / x_b) ** (-a1) * (0.5 * (1 + (X / x_b) ** (1 / delta))) ** ((a1 - a2) * delta)
    b = amplitude * x_b ** a1 * 2 ** ((a2 - a1) * delta)
    law = get_law("broken")
    theta = np.array([0.0, b, a1, a2 - a1, x_b, delta])
    np.testing.assert_allclose(law.evaluate(X, theta), astropy, rtol=1e-12)
    np.testing.assert_allclose(law.exponents(theta), [a1, a2])
    np.testing.assert_allclose(law.breaks(theta), [x_b])


def test_tied_amplitude_is_grossmann_form():
    """Grossmann et al.: L = (xc/x)^a2 (1 + xc/x)^(a1-a2) = BNSL with a=0, f1=1, b=xc^a1."""
    a1, a2, xc = 0.15, 0.42, 5.2e4
    law = get_law("broken", tie_amplitude=True)
    assert "b" not in law.param_names
    theta = np.array([0.0, a1, a2 - a1, xc, 1.0])
    expected = (xc / X) ** a2 * (1 + xc / X) ** (a1 - a2)
    np.testing.assert_allclose(law.evaluate(X, theta), expected, rtol=1e-12)
    assert law.report(theta)["b"] == pytest.approx(xc**a1)


def test_log_evaluate_stays_finite_for_sharp_breaks_and_huge_x():
    law = get_law("broken")
    theta = np.array([0.0, 1.0, 0.1, 5.0, 1e3, 1e-3])
    x = np.geomspace(1e2, 1e12, 20)
    assert np.all(np.isfinite(law.log_evaluate(x, theta)))
    np.testing.assert_allclose(law.log_evaluate(x[:3], theta), np.log(law.evaluate(x[:3], theta)), rtol=1e-10)


def test_batched_evaluation_and_k_breaks():
    law = get_law("broken", breaks=2)
    assert law.param_names == ("a", "b", "c0", "c1", "c2", "d1", "d2", "f1", "f2")
    theta = np.array([0.1, 2.0, 0.1, 0.2, 0.3, 1e4, 1e5, 0.5, 0.5])
    batch = np.stack([theta, theta * 1.01])
    assert law.evaluate(X, batch).shape == (2, len(X))
    assert law.evaluate(X, batch[None]).shape == (1, 2, len(X))
    np.testing.assert_allclose(law.exponents(theta), [0.1, 0.3, 0.6])
    assert law.initial_guesses(X, law.evaluate(X, theta)).shape[1] == len(theta)


def test_power_laws():
    assert get_law("power").evaluate(X, np.array([2.0, 0.5])) == pytest.approx(2.0 * X**-0.5)
    floor = get_law("power+floor")
    assert floor.evaluate(X, np.array([0.3, 2.0, 0.5])) == pytest.approx(0.3 + 2.0 * X**-0.5)


def test_registry_and_unknown_law():
    assert {"power", "power+floor", "broken", "broken+amplitude"} <= set(law_names())
    with pytest.raises(InputError, match="unknown law 'powr'"):
        get_law("powr")
