"""Two-axis laws, Hoffmann's recipe through the shared engine, and the derived quantities."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.analysis import derived
from scaling.analysis.fitting import fit
from scaling.analysis.laws import get_law
from scaling.analysis.laws2d import Chinchilla, HoffmannBroken, KaplanBroken

X = np.array([[3e5, 2.5e3], [1e6, 4e4], [8e7, 1.6e5], [2e9, 1e10]])
KAPLAN = np.array([0.30, 0.20, 0.37, 10**5.36, 10**4.51])
HOFFMANN = np.array([0.43, 0.26, 0.31, 10**4.38, 10**4.00, 0.151])
CHINCHILLA = np.array([1.8172, 477.84, 2143.86, 0.3473, 0.3672])


def test_formulas_match_design():
    n, d = X[:, 0], X[:, 1]
    a_n, a_d1, a_d2, n_c, d_c = KAPLAN
    kaplan = ((n_c / n) ** (a_n / a_d2) + (d_c / d) * (1 + d_c / d) ** (a_d1 / a_d2 - 1)) ** a_d2
    np.testing.assert_allclose(get_law("kaplan-broken").evaluate(X, KAPLAN), kaplan, rtol=1e-12)
    a_n, a_d1, a_d2, n_c, d_c, l0 = HOFFMANN
    hoffmann = l0 + (n_c / n) ** a_n + (d_c / d) ** a_d2 * (1 + d_c / d) ** (a_d1 - a_d2)
    np.testing.assert_allclose(get_law("hoffmann-broken").evaluate(X, HOFFMANN), hoffmann, rtol=1e-12)
    e, a, b, alpha, beta = CHINCHILLA
    np.testing.assert_allclose(get_law("chinchilla").evaluate(X, CHINCHILLA), e + a / n**alpha + b / d**beta,
                               rtol=1e-12)


@pytest.mark.parametrize("law, theta", [(Chinchilla(), CHINCHILLA), (KaplanBroken(), KAPLAN),
                                        (HoffmannBroken(), HOFFMANN)])
def test_batched_theta_and_n_inputs(law, theta):
    batch = np.stack([theta, theta * 1.01, theta * 0.99])
    out = law.evaluate(X, batch)
    assert law.n_inputs == 2 and out.shape == (3, len(X))
    np.testing.assert_allclose(out[0], law.evaluate(X, theta))
    with pytest.raises(ValueError, match=r"\[n, 2\]"):
        law.evaluate(X[:, 0], theta)


def test_hoffmann_recipe_reaches_the_lbfgsb_minimum():
    """The engine from Hoffmann's grid reaches the summed-Huber minimum that scipy L-BFGS-B reaches in Hoffmann's
    (a, b, e, alpha, beta) parameterisation from the same grid's best starts."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    rng = np.random.default_rng(3)
    x = np.exp(np.column_stack([rng.uniform(np.log(1e7), np.log(1e10), 80), rng.uniform(np.log(1e9), np.log(1e12), 80)]))
    y = Chinchilla().evaluate(x, CHINCHILLA) * np.exp(rng.normal(0, 0.01, 80))
    log_n, log_d, log_y = np.log(x[:, 0]), np.log(x[:, 1]), np.log(y)
    delta = 1e-3

    def objective(p):
        """Summed Huber of Hoffmann's log-sum-exp residuals, and its gradient (p: [5] or [S, 5])."""
        p = np.atleast_2d(p)
        terms = np.stack([p[:, :1] - p[:, 3:4] * log_n, p[:, 1:2] - p[:, 4:5] * log_d,
                          np.broadcast_to(p[:, 2:3], (len(p), len(log_n)))])
        fitted = logsumexp(terms, axis=0)
        r = fitted - log_y
        cost = np.sum(np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta)), axis=1)
        psi = np.clip(r, -delta, delta) * np.exp(terms - fitted)
        grad = np.stack([psi[0].sum(1), psi[1].sum(1), psi[2].sum(1), -(psi[0] * log_n).sum(1),
                         -(psi[1] * log_d).sum(1)], axis=1)
        return cost, grad

    law = Chinchilla()
    grid = law.initial_guesses(x, y)
    assert grid.shape == (4500, 5)
    hoffmann_grid = np.column_stack([np.log(grid[:, 1]), np.log(grid[:, 2]), np.log(grid[:, 0]), grid[:, 3], grid[:, 4]])
    ranked = hoffmann_grid[np.argsort(objective(hoffmann_grid)[0])[:6]]
    runs = [minimize(lambda p: tuple(v[0] for v in objective(p)), p, jac=True, method="L-BFGS-B") for p in ranked]
    best = min(runs, key=lambda r: r.fun)

    result = fit(law, x, y, space="log", loss="huber", huber_delta=delta, huber_reduction="sum")
    assert result.objective <= best.fun * (1 + 1e-6)
    np.testing.assert_allclose([result.params["alpha"], result.params["beta"]], best.x[3:], atol=2e-3)


def test_crossover_is_where_the_terms_meet():
    n = np.geomspace(1e5, 1e9, 7)
    _, a, b, alpha, beta = CHINCHILLA
    np.testing.assert_allclose(derived.crossover_d(Chinchilla(), CHINCHILLA, n), (b * n**alpha / a) ** (1 / beta),
                               rtol=1e-9)
    law = KaplanBroken()
    d_cross = derived.crossover_d(law, KAPLAN, n)
    np.testing.assert_allclose(law.log_d_term(np.log(d_cross), KAPLAN), law.log_n_term(np.log(n), KAPLAN), atol=1e-9)
    assert np.all(np.diff(d_cross) > 0)  # bigger models stay data-limited to larger D
    batch = derived.crossover_d(law, np.stack([KAPLAN, KAPLAN]), n)
    assert batch.shape == (2, 7)


def test_local_exponents_match_analytic_chinchilla():
    n, d = np.geomspace(1e7, 1e10, 4), np.geomspace(1e9, 1e12, 5)
    slope_d, slope_n = derived.local_exponents(Chinchilla(), CHINCHILLA, n, d)
    e, a, b, alpha, beta = CHINCHILLA
    nn, dd = np.meshgrid(n, d, indexing="ij")
    loss = e + a / nn**alpha + b / dd**beta
    np.testing.assert_allclose(slope_d, -beta * b / dd**beta / loss, rtol=1e-6)
    np.testing.assert_allclose(slope_n, -alpha * a / nn**alpha / loss, rtol=1e-6)


def test_compute_optimal_closed_form_and_numeric_agree():
    compute = np.geomspace(1e18, 1e24, 5)
    closed = derived.compute_optimal(Chinchilla(), CHINCHILLA, compute)
    e, a, b, alpha, beta = CHINCHILLA
    assert closed["a"] == pytest.approx(beta / (alpha + beta)) and closed["b"] == pytest.approx(alpha / (alpha + beta))
    np.testing.assert_allclose(6 * closed["n_opt"] * closed["d_opt"], compute, rtol=1e-12)
    # hoffmann-broken with aD1 = aD2 is the same additive law: its numeric optimum must match the closed form
    same = np.array([alpha, beta, beta, a ** (1 / alpha), b ** (1 / beta), e])
    numeric = derived.compute_optimal(HoffmannBroken(), same, compute)
    np.testing.assert_allclose(numeric["n_opt"], closed["n_opt"], rtol=1e-4)
    assert numeric["a"] == pytest.approx(closed["a"], abs=1e-4)
    # the optimum is a minimum along the iso-compute line
    for factor in (0.7, 1.4):
        off = np.column_stack([closed["n_opt"] * factor, closed["d_opt"] / factor])
        assert np.all(Chinchilla().evaluate(off, CHINCHILLA) > closed["loss_opt"])
