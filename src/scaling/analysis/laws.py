"""Scaling laws as objects: named parameters, a formula, bounds, starting points (numpy only).

A law knows nothing about fitting (see `scaling.analysis.fitting`). Every law evaluates vectorised over a leading
batch axis of parameter vectors, `theta[..., P] -> y[..., n]`, so the engine can run many starts and bootstrap
replicates in one call. x is `[n]` for one-axis laws and `[n, 2]` (columns N, D) for two-axis laws.

`get_law(name, **options)` builds a law by name: the built-in ones are listed in `scaling.analysis.catalog` (the one
list of names, imported lazily: no module registers on import); `register_law` adds others.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scaling.analysis.catalog import BUILTIN_LAWS, builtin_names
from scaling.errors import InputError

Scale = Literal["log", "linear"]
INF = float("inf")
# Sharpness above 1 spreads a transition over more than about 2.6 decades: on 2-4 decades of data it cannot be told
# from curvature, and the regime exponents become extrapolations (measured: exponent recovery falls from 96% to 92%
# of synthetic curves with an upper bound of 2 or 20). Grossmann et al. fix f = 1; BNSL's 4-digit fit has f = 0.06.
SHARPNESS_MAX = 1.0


@dataclass(frozen=True)
class Parameter:
    """One named parameter: its scale ("log" for positive scales such as amplitudes, breaks and sharpness, which
    the optimiser then moves in log space) and its default bounds (`None` means data-dependent, see
    `Law.bounds`)."""

    name: str
    scale: Scale = "linear"
    lower: float = -INF
    upper: float = INF


class Law:
    """Base class of every law. Subclasses set `name`, `parameters`, `n_inputs` and implement `evaluate` and
    `initial_guesses`; one-axis laws also implement `exponents` and `breaks`."""

    name: str = ""
    n_inputs: int = 1
    parameters: tuple[Parameter, ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def scales(self) -> tuple[Scale, ...]:
        return tuple(p.scale for p in self.parameters)

    def bounds(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bound per parameter for this data (default: the parameters' own bounds)."""
        return (np.array([p.lower for p in self.parameters]), np.array([p.upper for p in self.parameters]))

    def evaluate(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """y for parameters theta[..., P] at x: returns [..., n]."""
        raise NotImplementedError

    def log_evaluate(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """ln y; laws override this with a form that stays finite for sharp breaks and huge x."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(self.evaluate(x, theta))

    def initial_guesses(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Starting points [S, P] spread over plausible values for this data."""
        raise NotImplementedError

    def exponents(self, theta: np.ndarray) -> np.ndarray:
        """Slope of each regime, smallest x first (one-axis laws)."""
        raise NotImplementedError

    def breaks(self, theta: np.ndarray) -> np.ndarray:
        """x of each break, smallest first (empty for laws without breaks)."""
        return np.zeros(theta.shape[:-1] + (0,))

    def report(self, theta: np.ndarray) -> dict[str, float]:
        """All parameters by name, including derived ones (e.g. a tied amplitude)."""
        return {name: float(value) for name, value in zip(self.param_names, theta)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, params={self.param_names})"


_REGISTRY: dict[str, Callable[..., Law]] = {}
_AXES: dict[str, int] = {}


def register_law(name: str, factory: Callable[..., Law], n_inputs: int = 1) -> None:
    """Make `get_law(name, **options)` build laws with `factory(**options)`; `n_inputs`: 1 (x) or 2 (N, D)."""
    _REGISTRY[name] = factory
    _AXES[name] = n_inputs


def law_names(n_inputs: int | None = None) -> tuple[str, ...]:
    """The built-in law names (`scaling.analysis.catalog`) and any registered, all or those with `n_inputs` axes."""
    extra = tuple(name for name, axes in _AXES.items()
                  if name not in BUILTIN_LAWS and (n_inputs is None or axes == n_inputs))
    return builtin_names(n_inputs) + extra


def get_law(name: str, **options) -> Law:
    """The law registered under `name`, built with `options` (e.g. `get_law("broken", breaks=2)`); a built-in law's
    module is imported when it is first built."""
    if name not in _REGISTRY and name in BUILTIN_LAWS:
        import importlib

        module, attribute, axes = BUILTIN_LAWS[name]
        register_law(name, getattr(importlib.import_module(module), attribute), axes)
    if name not in _REGISTRY:
        raise InputError(f"unknown law {name!r} (known: {', '.join(sorted(law_names()))})")
    return _REGISTRY[name](**options)


def _log_x(x: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(x, dtype=float))


def _slope_guess(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(ln b, c) of the straight line ln y = ln b - c ln x through the data."""
    slope, intercept = np.polyfit(_log_x(x), np.log(y), 1)
    return float(intercept), float(-slope)


class PowerLaw(Law):
    """y = b * x^(-c)."""

    name = "power"
    parameters = (Parameter("b", "log", 0.0, INF), Parameter("c", "linear", -5.0, 10.0))

    def evaluate(self, x, theta):
        return np.exp(self.log_evaluate(x, theta))

    def log_evaluate(self, x, theta):
        b, c = theta[..., 0:1], theta[..., 1:2]
        return np.log(b) - c * _log_x(x)

    def initial_guesses(self, x, y):
        log_b, c = _slope_guess(x, y)
        return np.array([[np.exp(log_b), c]])

    def exponents(self, theta):
        return theta[..., 1:2]


class PowerFloorLaw(Law):
    """y = a + b * x^(-c): a power law that levels off at the floor a >= 0."""

    name = "power+floor"
    parameters = (
        Parameter("a", "linear", 0.0, INF),
        Parameter("b", "log", 0.0, INF),
        Parameter("c", "linear", -5.0, 10.0),
    )

    def bounds(self, x, y):
        lower, upper = super().bounds(x, y)
        upper[0] = float(np.min(y))
        return lower, upper

    def evaluate(self, x, theta):
        a, b, c = theta[..., 0:1], theta[..., 1:2], theta[..., 2:3]
        return a + b * np.exp(-c * _log_x(x))

    def log_evaluate(self, x, theta):
        a, b, c = theta[..., 0:1], theta[..., 1:2], theta[..., 2:3]
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log(a), np.log(b) - c * _log_x(x))

    def initial_guesses(self, x, y):
        y_min = float(np.min(y))
        guesses = []
        for fraction in (0.0, 0.3, 0.6, 0.85):
            floor = fraction * y_min
            log_b, c = _slope_guess(x, y - floor)
            guesses.append([floor, np.exp(log_b), max(c, 1e-3)])
        return np.array(guesses)

    def exponents(self, theta):
        return theta[..., 2:3]


class BrokenPowerLaw(Law):
    """The smoothly broken power law of Caballero et al. (BNSL) with K breaks:

        y = a + b * x^(-c0) * prod_i (1 + (x/d_i)^(1/f_i))^(-c_i * f_i)

    Slope c0 below the first break, c0 + c1 above it, and so on; f_i is the sharpness (small = sharp).
    With `tie_amplitude=True` the amplitude is not free but b = d1^c0, which is Grossmann et al.'s form
    `(x_c/x)^a2 (1 + x_c/x)^(a1-a2)` when a = 0 and f_i = 1 (b is then reported as a derived parameter).
    """

    n_inputs = 1

    def __init__(self, breaks: int = 1, tie_amplitude: bool = False):
        if breaks < 1:
            raise InputError(f"--breaks must be >= 1, got {breaks}")
        self.n_breaks = int(breaks)
        self.tie_amplitude = bool(tie_amplitude)
        self.name = "broken"
        k = self.n_breaks
        params = [Parameter("a", "linear", 0.0, INF)]
        if not tie_amplitude:
            params.append(Parameter("b", "log", 0.0, INF))
        params.append(Parameter("c0", "linear", -5.0, 10.0))
        params += [Parameter(f"c{i}", "linear", -20.0, 30.0) for i in range(1, k + 1)]
        params += [Parameter(f"d{i}", "log", 0.0, INF) for i in range(1, k + 1)]
        params += [Parameter(f"f{i}", "log", 1e-3, SHARPNESS_MAX) for i in range(1, k + 1)]
        self.parameters = tuple(params)
        names = self.param_names
        self._i_a = names.index("a")
        self._i_b = names.index("b") if not tie_amplitude else None
        self._i_c = np.array([names.index(f"c{i}") for i in range(k + 1)])
        self._i_d = np.array([names.index(f"d{i}") for i in range(1, k + 1)])
        self._i_f = np.array([names.index(f"f{i}") for i in range(1, k + 1)])

    def bounds(self, x, y):
        """Breaks stay within the data range (a break outside the data cannot be located, and letting it out made
        the fitted exponents extrapolations); the floor stays below the smallest y."""
        lower, upper = super().bounds(x, y)
        lower[self._i_d] = float(np.min(x))
        upper[self._i_d] = float(np.max(x))
        upper[self._i_a] = float(np.min(y))
        return lower, upper

    def _log_amplitude(self, theta):
        if self.tie_amplitude:
            return theta[..., self._i_c[0], None] * np.log(theta[..., self._i_d[0], None])
        return np.log(theta[..., self._i_b, None])

    def _log_power_part(self, x, theta):
        """ln(y - a), computed with softplus so that sharp breaks and large x do not overflow."""
        log_x = _log_x(x)
        c = theta[..., self._i_c]
        d = theta[..., self._i_d]
        f = theta[..., self._i_f]
        out = self._log_amplitude(theta) - c[..., 0, None] * log_x
        for i in range(self.n_breaks):
            z = (log_x - np.log(d[..., i, None])) / f[..., i, None]
            out = out - (c[..., i + 1] * f[..., i])[..., None] * np.logaddexp(0.0, z)
        return out

    def evaluate(self, x, theta):
        return theta[..., self._i_a, None] + np.exp(self._log_power_part(x, theta))

    def log_evaluate(self, x, theta):
        power = self._log_power_part(x, theta)
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log(theta[..., self._i_a, None]), power)

    def exponents(self, theta):
        return np.cumsum(theta[..., self._i_c], axis=-1)

    def breaks(self, theta):
        return theta[..., self._i_d]

    def report(self, theta):
        values = super().report(theta)
        if self.tie_amplitude:
            values["b"] = float(theta[self._i_d[0]] ** theta[self._i_c[0]])
        return values

    def initial_guesses(self, x, y):
        """A grid over floor, break positions (spread evenly in log x over the data range) and sharpness; for each
        grid point the amplitude and slopes come from a linear least-squares fit of ln(y - a), so every start
        already follows the data."""
        log_x = _log_x(x)
        log_lo, log_hi = log_x.min(), log_x.max()
        y_min = float(np.min(y))
        n_positions = 9 if self.n_breaks == 1 else 6
        positions = np.linspace(log_lo, log_hi, n_positions + 2)[1:-1]
        break_sets = list(itertools.combinations(positions, self.n_breaks))
        sharpness = (0.05, 0.2, 0.5, 1.0)
        floors = (0.0, 0.5, 0.9)
        combos = list(itertools.product(floors, break_sets, sharpness))
        floor = np.array([fraction * y_min for fraction, _, _ in combos])  # [G]
        log_d = np.array([ld for _, ld, _ in combos])  # [G, K]
        f = np.array([[fs] * self.n_breaks for _, _, fs in combos])  # [G, K]
        z = (log_x[None, None, :] - log_d[:, :, None]) / f[:, :, None]  # [G, K, n]
        columns = [np.ones((len(combos), len(log_x))), np.broadcast_to(-log_x, (len(combos), len(log_x)))]
        columns += list(np.moveaxis(-f[:, :, None] * np.logaddexp(0.0, z), 1, 0))
        design = np.stack(columns, axis=2)  # [G, n, K+2]
        target = np.log(y[None, :] - floor[:, None])
        gram = np.einsum("gni,gnj->gij", design, design) + 1e-10 * np.eye(design.shape[2])
        coef = np.linalg.solve(gram, np.einsum("gni,gn->gi", design, target)[..., None])[..., 0]
        guesses = np.empty((len(combos), len(self.parameters)))
        guesses[:, self._i_a] = floor
        guesses[:, self._i_c] = coef[:, 1:]
        guesses[:, self._i_d] = np.exp(log_d)
        guesses[:, self._i_f] = f
        if self._i_b is not None:
            guesses[:, self._i_b] = np.exp(coef[:, 0])
        return guesses


class BrokenAmplitudeLaw(BrokenPowerLaw):
    """`broken` with a free amplitude b even in the Grossmann form (README's "broken + amplitude")."""

    def __init__(self, breaks: int = 1):
        super().__init__(breaks=breaks, tie_amplitude=False)
        self.name = "broken+amplitude"


