"""Two-axis scaling laws L(N, D): Chinchilla, Kaplan-type broken, Hoffmann-type broken (formulas in docs/analysis.md).

They follow the law protocol of `scaling.analysis.laws` with `n_inputs = 2`: x has shape [n, 2] (columns N, D),
theta[..., P] broadcasts over a leading batch axis; `scaling.analysis.catalog` lists them and `get_law("chinchilla")`
imports this module when first asked for one. Positive scales (amplitudes, E, Nc, Dc) are "log" parameters, so the shared
engine moves them in log space: for `chinchilla` fitted in log space this is exactly Hoffmann et al.'s
parameterisation `log L = LSE(a - alpha log N, b - beta log D, e)` with A = e^a, B = e^b, E = e^e.

Besides the protocol each law exposes its two terms in log form, `log_n_term` (falls with N) and `log_d_term`
(falls with D); `scaling.analysis.derived` puts the crossover line where the two are equal.
"""

from __future__ import annotations

import itertools

import numpy as np

from scaling.analysis.laws import INF, Law, Parameter


def split_nd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln N and ln D from x of shape [n, 2] (columns N, D)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"a two-axis law needs x of shape [n, 2] (columns N, D), got shape {x.shape}")
    return np.log(x[:, 0]), np.log(x[:, 1])


def _p(theta: np.ndarray, i: int) -> np.ndarray:
    """Parameter i of theta[..., P] as [..., 1], so it broadcasts against n points."""
    return np.asarray(theta, dtype=float)[..., i : i + 1]


def _log_spread(log_values: np.ndarray, below: float, count: int) -> np.ndarray:
    """`count` values spread evenly in log from `below` decades under the data's minimum to its maximum."""
    lo = log_values.min() - below * np.log(10.0)
    return np.exp(np.linspace(lo, log_values.max(), count))


class Law2D(Law):
    """A two-axis law: L(N, D) built from a parameter term and a data term."""

    n_inputs = 2

    def log_n_term(self, log_n: np.ndarray, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def log_d_term(self, log_d: np.ndarray, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, x, theta):
        return np.exp(self.log_evaluate(x, theta))

    def data_breaks(self, theta: np.ndarray) -> np.ndarray:
        """D of each break of the data exponent (empty for laws without one)."""
        return np.zeros(np.shape(theta)[:-1] + (0,))

    def exponents_2d(self, theta: np.ndarray) -> dict[str, list[float]]:
        """Asymptotic exponents per axis: {"N": [...], "D": [below break, above break]}."""
        raise NotImplementedError


class AdditiveLaw2D(Law2D):
    """A floor plus the two terms, `L = floor + n_term + d_term`, summed in log space (log-sum-exp)."""

    floor_index: int

    def log_evaluate(self, x, theta):
        log_n, log_d = split_nd(x)
        with np.errstate(divide="ignore"):
            terms = np.logaddexp(self.log_n_term(log_n, theta), self.log_d_term(log_d, theta))
            return np.logaddexp(np.log(_p(theta, self.floor_index)), terms)


class Chinchilla(AdditiveLaw2D):
    """Hoffmann et al. (2022): `L = E + A/N^alpha + B/D^beta`."""

    name = "chinchilla"
    floor_index = 0
    parameters = (
        Parameter("E", "log", 0.0, INF),
        Parameter("A", "log", 0.0, INF),
        Parameter("B", "log", 0.0, INF),
        Parameter("alpha", "linear", 0.0, 5.0),
        Parameter("beta", "linear", 0.0, 5.0),
    )

    def log_n_term(self, log_n, theta):
        return np.log(_p(theta, 1)) - _p(theta, 3) * log_n

    def log_d_term(self, log_d, theta):
        return np.log(_p(theta, 2)) - _p(theta, 4) * log_d

    def initial_guesses(self, x, y):
        """Hoffmann's grid of 4,500 starts: alpha, beta in {0, 0.5, .., 2}, e in {-1, -0.5, .., 1},
        a, b in {0, 5, .., 25} (E = e^e, A = e^a, B = e^b)."""
        exponents = np.arange(0.0, 2.01, 0.5)
        log_floor = np.arange(-1.0, 1.01, 0.5)
        log_amp = np.arange(0.0, 25.1, 5.0)
        grid = itertools.product(log_floor, log_amp, log_amp, exponents, exponents)
        return np.array([[np.exp(e), np.exp(a), np.exp(b), al, be] for e, a, b, al, be in grid])

    def exponents_2d(self, theta):
        return {"N": [float(theta[3])], "D": [float(theta[4])]}


class KaplanBroken(Law2D):
    """Grossmann et al., Kaplan type: `L = [(Nc/N)^(aN/aD2) + (Dc/D)*(1+Dc/D)^(aD1/aD2-1)]^aD2`.

    The loss falls as D^-aD1 below the data break Dc and as D^-aD2 above it while data limit it, and as N^-aN
    while capacity does.
    """

    name = "kaplan-broken"
    parameters = (
        Parameter("aN", "linear", 1e-3, 5.0),
        Parameter("aD1", "linear", 1e-3, 5.0),
        Parameter("aD2", "linear", 1e-3, 5.0),
        Parameter("Nc", "log", 0.0, INF),
        Parameter("Dc", "log", 0.0, INF),
    )

    def bounds(self, x, y):
        return _scale_bounds(self, x)

    def log_n_term(self, log_n, theta):
        return _p(theta, 0) / _p(theta, 2) * (np.log(_p(theta, 3)) - log_n)

    def log_d_term(self, log_d, theta):
        log_ratio = np.log(_p(theta, 4)) - log_d
        return log_ratio + (_p(theta, 1) / _p(theta, 2) - 1.0) * np.logaddexp(0.0, log_ratio)

    def log_evaluate(self, x, theta):
        log_n, log_d = split_nd(x)
        return _p(theta, 2) * np.logaddexp(self.log_n_term(log_n, theta), self.log_d_term(log_d, theta))

    def initial_guesses(self, x, y):
        """The published start [0.5, 0.5, 0.5, 1e4, 1e4], then starts spread over the data's N and D ranges."""
        log_n, log_d = split_nd(x)
        starts = [[0.5, 0.5, 0.5, 1e4, 1e4]]
        slopes = ((0.3, 0.2, 0.4), (0.5, 0.15, 0.6), (0.2, 0.4, 0.3))
        for (a_n, a_d1, a_d2), n_c, d_c in itertools.product(
            slopes, _log_spread(log_n, 2.0, 3), _log_spread(log_d, 0.5, 3)
        ):
            starts.append([a_n, a_d1, a_d2, n_c, d_c])
        return np.array(starts)

    def data_breaks(self, theta):
        return np.asarray(theta)[..., 4:5]

    def exponents_2d(self, theta):
        return {"N": [float(theta[0])], "D": [float(theta[1]), float(theta[2])]}


class HoffmannBroken(AdditiveLaw2D):
    """Grossmann et al., Hoffmann type: `L = L0 + (Nc/N)^aN + (Dc/D)^aD2*(1+Dc/D)^(aD1-aD2)`."""

    name = "hoffmann-broken"
    floor_index = 5
    parameters = (
        Parameter("aN", "linear", 1e-3, 5.0),
        Parameter("aD1", "linear", 1e-3, 5.0),
        Parameter("aD2", "linear", 1e-3, 5.0),
        Parameter("Nc", "log", 0.0, INF),
        Parameter("Dc", "log", 0.0, INF),
        Parameter("L0", "linear", 0.0, INF),
    )

    def bounds(self, x, y):
        lower, upper = _scale_bounds(self, x)
        upper[5] = float(np.min(y))
        return lower, upper

    def log_n_term(self, log_n, theta):
        return _p(theta, 0) * (np.log(_p(theta, 3)) - log_n)

    def log_d_term(self, log_d, theta):
        log_ratio = np.log(_p(theta, 4)) - log_d
        return _p(theta, 2) * log_ratio + (_p(theta, 1) - _p(theta, 2)) * np.logaddexp(0.0, log_ratio)

    def initial_guesses(self, x, y):
        """The published start [0.5, 0.5, 0.5, 1e4, 1e4, 0], then starts over the data's ranges and floors."""
        log_n, log_d = split_nd(x)
        y_min = float(np.min(y))
        starts = [[0.5, 0.5, 0.5, 1e4, 1e4, 0.0]]
        slopes = ((0.4, 0.2, 0.4), (0.7, 0.15, 0.6))
        for (a_n, a_d1, a_d2), floor, n_c, d_c in itertools.product(
            slopes, (0.0, 0.5 * y_min), _log_spread(log_n, 2.0, 3), _log_spread(log_d, 0.5, 3)
        ):
            starts.append([a_n, a_d1, a_d2, n_c, d_c, floor])
        return np.array(starts)

    def data_breaks(self, theta):
        return np.asarray(theta)[..., 4:5]

    def exponents_2d(self, theta):
        return {"N": [float(theta[0])], "D": [float(theta[1]), float(theta[2])]}


def _scale_bounds(law: Law, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nc and Dc within six decades of the data on each side: wide enough for every published fit, and finite,
    so a scale cannot run off to 0 or infinity while its exponent goes to a bound."""
    lower, upper = Law.bounds(law, x, None)
    x = np.asarray(x, dtype=float)
    names = law.param_names
    for name, column in (("Nc", 0), ("Dc", 1)):
        i = names.index(name)
        lower[i] = x[:, column].min() * 1e-6
        upper[i] = x[:, column].max() * 1e6
    return lower, upper

