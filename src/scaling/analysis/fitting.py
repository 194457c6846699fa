"""The fitting engine: any law, one or two input axes, log or linear residuals, least squares or Huber, optional
per-point sigma, fixed parameters, a multi-start then local optimisation, standard errors and information criteria.

Laws live in `scaling.analysis.laws`; this module knows only their protocol. Problems are batched: `residuals`
evaluates many parameter vectors against many data rows (bootstrap replicates) in one call, and the default
optimiser (`scaling.analysis.optimize.levenberg_marquardt`) solves them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from scaling.analysis.laws import Law
from scaling.analysis.optimize import levenberg_marquardt, robust_cost
from scaling.analysis.transforms import ParameterMap
from scaling.errors import InputError

Space = Literal["log", "linear"]
Loss = Literal["lsq", "huber"]


@dataclass(frozen=True)
class FitOptions:
    """How to fit: residual space, loss, fixed parameters, starts and optimiser.

    huber_reduction: "mean" or "sum" of the Huber terms; it scales the reported objective, not the minimiser
    (Hoffmann et al.'s recipe sums because L-BFGS stops early on a mean; a Gauss-Newton solver does not care)."""

    space: Space = "log"
    loss: Loss = "lsq"
    huber_delta: float = 1e-3
    huber_reduction: Literal["mean", "sum"] = "mean"
    fixed: dict[str, float] = field(default_factory=dict)
    n_starts: int = 24
    optimizer: Literal["lm", "lmfit"] = "lm"
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class FitResult:
    """A fitted law. `params`/`stderr` hold every reported parameter (fixed ones with stderr None); `covariance`
    is over the free parameters `free_names`. `rss` is the UNWEIGHTED residual sum of squares in the fitting
    space (linear: sum (y - f)^2; log: sum (ln y - ln f)^2), which AICc and BIC use."""

    law: Law
    theta: np.ndarray
    params: dict[str, float]
    stderr: dict[str, float | None]
    covariance: np.ndarray
    free_names: tuple[str, ...]
    rss: float
    objective: float
    n_points: int
    k: int
    aicc: float | None
    bic: float | None
    rmsle: float
    exponents: list[float]
    breaks: list[float]
    options: FitOptions
    converged: bool = True
    alternatives: np.ndarray | None = None  # [S, P]: the other local solutions of the multi-start, best first


class Problem:
    """Data (one or many rows of y, e.g. bootstrap replicates) and a law with its parameter map: turns
    unbounded variables into residuals."""

    def __init__(self, law: Law, x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None, options: FitOptions):
        self.law = law
        self.x = np.asarray(x, dtype=float)
        self.options = options
        y = np.atleast_2d(np.asarray(y, dtype=float))
        sigma = None if sigma is None else np.broadcast_to(np.asarray(sigma, dtype=float), y.shape)
        if options.space == "log":
            self.target = np.log(y)
            self.scale = np.ones_like(y) if sigma is None else sigma / y
        else:
            self.target = y
            self.scale = np.ones_like(y) if sigma is None else sigma
        fixed = resolve_fixed(law, options.fixed)
        lower, upper = law.bounds(self.x, y[0])
        for name, (lo, hi) in options.bounds.items():
            if name not in law.param_names:
                raise InputError(f"bounds: law {law.name!r} has no parameter {name!r} (it has {', '.join(law.param_names)})")
            if not lo < hi:
                raise InputError(f"bounds: {name} needs lower < upper, got ({lo}, {hi})")
            lower[law.param_names.index(name)], upper[law.param_names.index(name)] = lo, hi
        self.pmap = ParameterMap.build(law.scales, lower, upper, fixed)

    def model(self, theta: np.ndarray) -> np.ndarray:
        if self.options.space == "log":
            return self.law.log_evaluate(self.x, theta)
        return self.law.evaluate(self.x, theta)

    def residuals(self, u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            prediction = self.model(self.pmap.to_natural(u))
        rows = np.minimum(rows, self.target.shape[0] - 1)
        return (prediction - self.target[rows]) / self.scale[rows]


def resolve_fixed(law: Law, fixed: dict[str, float]) -> dict[int, float]:
    """{name: value} -> {index: value}; an unknown name is an InputError naming the law's parameters."""
    names = law.param_names
    out = {}
    for name, value in fixed.items():
        if name not in names:
            raise InputError(f"--fix {name}={value}: law {law.name!r} has no parameter {name!r} (it has {', '.join(names)})")
        out[names.index(name)] = float(value)
    if len(out) == len(names):
        raise InputError(f"--fix: every parameter of law {law.name!r} is fixed; nothing to fit")
    return out


def information_criteria(rss: float, n: int, k: int) -> tuple[float | None, float | None]:
    """(AICc, BIC) from the unweighted RSS: AICc = n ln(RSS/n) + 2k + (2k^2+2k)/(n-k-1), BIC = n ln(RSS/n) + k ln n.
    AICc is None where n <= k + 1, both None for a perfect fit."""
    if rss <= 0 or not math.isfinite(rss):
        return None, None
    base = n * math.log(rss / n)
    aicc = base + 2 * k + (2 * k * k + 2 * k) / (n - k - 1) if n - k - 1 > 0 else None
    return aicc, base + k * math.log(n)


def starting_points(problem: Problem, starts: np.ndarray | None) -> np.ndarray:
    """Unbounded starts [S, F]: the law's guesses (fixed values imposed) plus any given, best first by cost."""
    guesses = problem.law.initial_guesses(problem.x, np.exp(problem.target[0]) if problem.options.space == "log" else problem.target[0])
    if starts is not None:
        guesses = np.concatenate([np.atleast_2d(starts), guesses])
    theta = guesses.copy()
    is_fixed = np.ones(theta.shape[1], dtype=bool)
    is_fixed[problem.pmap.free_index] = False
    theta[:, is_fixed] = problem.pmap.template[is_fixed]
    u = problem.pmap.to_unbounded(theta)
    u = problem.pmap.interior(np.where(np.isfinite(u), u, 0.0))
    cost = robust_cost(problem.residuals(u, np.zeros(len(u), dtype=int)), problem.options.loss, problem.options.huber_delta)
    order = np.argsort(np.where(np.isfinite(cost), cost, np.inf), kind="stable")
    return u[order]


def _validate(law: Law, x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None, options: FitOptions) -> None:
    if options.space not in ("log", "linear"):
        raise InputError(f"--space must be log or linear, got {options.space!r}")
    if options.loss not in ("lsq", "huber"):
        raise InputError(f"--loss must be lsq or huber, got {options.loss!r}")
    if options.huber_reduction not in ("mean", "sum"):
        raise InputError(f"huber_reduction must be mean or sum, got {options.huber_reduction!r}")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
        raise InputError("x and y must be finite (found NaN or inf)")
    if np.any(x <= 0):
        raise InputError(f"x must be positive for law {law.name!r} (found {float(np.min(x)):g})")
    if options.space == "log" and np.any(y <= 0):
        raise InputError(f"y must be positive for --space log (found {float(np.min(y)):g})")
    if sigma is not None and (not np.all(np.isfinite(sigma)) or np.any(sigma <= 0)):
        raise InputError("sigma (seed std weights) must be finite and positive")


def fit(
    law: Law,
    x: np.ndarray,
    y: np.ndarray,
    sigma: np.ndarray | None = None,
    space: Space = "log",
    loss: Loss = "lsq",
    huber_delta: float = 1e-3,
    huber_reduction: str = "mean",
    fixed: dict[str, float] | None = None,
    starts: np.ndarray | None = None,
    n_starts: int = 24,
    optimizer: str = "lm",
    bounds: dict[str, tuple[float, float]] | None = None,
) -> FitResult:
    """Fit `law` to points (x [n] or [n, 2], y [n]); sigma [n] weights the residuals (in log space as sigma/y);
    `bounds` {name: (lower, upper)} replaces the law's default bounds of those parameters.

    Multi-start: the law's initial guesses (breaks spread over the data range in log x) are ranked by cost and the
    best `n_starts` optimised locally, all in one batch; the lowest cost wins."""
    options = FitOptions(space, loss, huber_delta, huber_reduction, dict(fixed or {}), n_starts, optimizer,
                         dict(bounds or {}))
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    _validate(law, x, y, sigma, options)
    problem = Problem(law, x, y, sigma, options)
    k = problem.pmap.n_free
    if len(y) < k:
        raise InputError(f"{len(y)} points are fewer than the {k} free parameters of law {law.name!r}")
    u_starts = starting_points(problem, starts)[:n_starts]
    if optimizer == "lmfit":
        from scaling.analysis.lmfit_backend import minimise_lmfit

        u_solutions, cost = minimise_lmfit(problem, u_starts)
    elif optimizer == "lm":
        u_solutions, cost = _multi_start_lm(problem, u_starts)
    else:
        raise InputError(f"--optimizer must be lm or lmfit, got {optimizer!r}")
    order = np.argsort(np.where(np.isfinite(cost), cost, np.inf), kind="stable")
    solutions = problem.pmap.to_natural(u_solutions[order])
    result = summarise(problem, solutions[0])
    result.alternatives = solutions[1:]
    return result


def _multi_start_lm(problem: Problem, u_starts: np.ndarray, scout_iter: int = 20, keep: int = 6):
    """All starts take `scout_iter` Levenberg-Marquardt steps together; the `keep` best go on to convergence.
    Most starts settle into their basin within a few steps, so this costs a fraction of converging all of them."""
    rows = np.zeros(len(u_starts), dtype=int)
    options = problem.options
    scout = levenberg_marquardt(problem.residuals, u_starts, rows, options.loss, options.huber_delta, max_iter=scout_iter)
    order = np.argsort(np.where(np.isfinite(scout.cost), scout.cost, np.inf), kind="stable")
    best = order[:keep]
    final = levenberg_marquardt(problem.residuals, scout.u[best], rows[best], options.loss, options.huber_delta)
    u = np.concatenate([final.u, scout.u[order[keep:]]])
    cost = np.concatenate([final.cost, scout.cost[order[keep:]]])
    return u, cost


def natural_jacobian(problem: Problem, theta: np.ndarray) -> np.ndarray:
    """d(weighted residual)/d(free natural parameter) [n, F] by central differences: `central_gradient`'s steps,
    with all 2F shifted parameter vectors evaluated in one vectorised call of the model."""
    free = problem.pmap.free_index
    steps = central_steps(theta, free)
    shifted = np.repeat(theta[None], 2 * len(free), axis=0)
    for j, (i, h) in enumerate(zip(free, steps)):
        shifted[2 * j, i] += h
        shifted[2 * j + 1, i] -= h
    with np.errstate(all="ignore"):
        values = problem.model(shifted) / problem.scale[0]
    return ((values[0::2] - values[1::2]) / (2 * steps[:, None])).T


def _covariance(jac: np.ndarray, w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(J^T W J)^-1 with the columns scaled to the parameters' magnitudes first (a break at 1e5 and an exponent at
    0.1 differ by 1e6 in column norm). Where the matrix is singular (rank-deficient J), the parameters that make up
    its null space are not identified: their rows and columns are NaN, and the others' covariance is that of the
    fit with those held at their values (so a floor pinned at zero does not hide the amplitudes' errors)."""
    scale = np.maximum(np.abs(values), 1e-12)
    scaled = jac * scale
    info = scaled.T @ (w[:, None] * scaled)
    out = np.full(info.shape, np.nan)
    if not np.all(np.isfinite(info)):
        return out
    keep = np.ones(len(info), dtype=bool)
    if np.linalg.cond(info) > 1e14:
        eigenvalues, vectors = np.linalg.eigh(info)
        null = vectors[:, eigenvalues <= 1e-14 * max(eigenvalues.max(), 1e-300)]
        keep = np.sum(null * null, axis=1) < 0.5  # a parameter mostly inside the null space
        sub = info[np.ix_(keep, keep)]
        if not keep.any() or np.linalg.cond(sub) > 1e14:
            return out
    try:
        inverse = np.linalg.inv(info[np.ix_(keep, keep)])
    except np.linalg.LinAlgError:
        return out
    out[np.ix_(keep, keep)] = inverse * np.outer(scale[keep], scale[keep])
    return out


def summarise(problem: Problem, theta: np.ndarray) -> FitResult:
    """Standard errors (scaled like curve_fit with absolute_sigma=False), RSS, AICc, BIC, RMSLE at theta."""
    law, options = problem.law, problem.options
    n = problem.target.shape[1]
    free = problem.pmap.free_index
    k = len(free)
    u = problem.pmap.to_unbounded(theta[None])
    r = problem.residuals(u, np.zeros(1, dtype=int))[0]
    cost = float(robust_cost(r[None], options.loss, options.huber_delta)[0])
    if options.loss == "lsq":
        objective = 2 * cost  # the weighted sum of squared residuals (chi^2 with seed-std weights)
    else:
        objective = cost / n if options.huber_reduction == "mean" else cost
    with np.errstate(all="ignore"):
        prediction = problem.model(theta[None])[0]
    raw = prediction - problem.target[0]
    rss = float(np.sum(raw * raw))
    log_pred = prediction if options.space == "log" else np.log(np.where(prediction > 0, prediction, np.nan))
    log_y = problem.target[0] if options.space == "log" else np.log(problem.target[0])
    rmsle = float(np.sqrt(np.mean((log_pred - log_y) ** 2)))

    jac = natural_jacobian(problem, theta)
    w = np.minimum(1.0, options.huber_delta / np.maximum(np.abs(r), 1e-300)) if options.loss == "huber" else np.ones(n)
    dof = n - k
    s2 = float(np.sum(w * r * r) / dof) if dof > 0 else float("nan")
    covariance = _covariance(jac, w, theta[free]) * s2
    names = law.param_names
    free_names = tuple(names[i] for i in free)
    reported = law.report(theta)
    stderr = _reported_stderr(problem, theta, covariance, reported)
    aicc, bic = information_criteria(rss, n, k)
    exponents = law.exponents(theta).tolist() if law.n_inputs == 1 else []
    breaks = law.breaks(theta).tolist() if law.n_inputs == 1 else []
    return FitResult(
        law=law, theta=theta, params=reported, stderr=stderr, covariance=covariance, free_names=free_names,
        rss=rss, objective=objective, n_points=n, k=k, aicc=aicc, bic=bic, rmsle=rmsle,
        exponents=[float(e) for e in exponents], breaks=[float(b) for b in breaks], options=options,
        converged=bool(np.isfinite(rss)),
    )


def central_steps(theta: np.ndarray, free) -> np.ndarray:
    """The one finite-difference step rule: 1e-6 relative to each free parameter's size (1e-14 absolute floor)."""
    return 1e-6 * np.maximum(np.abs(np.asarray(theta)[list(free)]), 1e-8)


def central_gradient(fn, theta: np.ndarray, free) -> np.ndarray:
    """d fn(theta) / d theta[free] by central differences with `central_steps` (fn of one parameter vector)."""
    grad = np.zeros(len(free))
    for j, (i, h) in enumerate(zip(free, central_steps(theta, free))):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        grad[j] = (fn(up) - fn(down)) / (2 * h)
    return grad


def _reported_stderr(problem: Problem, theta, covariance, reported) -> dict[str, float | None]:
    """Free parameters from the covariance diagonal; derived ones (e.g. a tied amplitude) by the delta method;
    fixed ones None."""
    names = problem.law.param_names
    free = list(problem.pmap.free_index)
    out: dict[str, float | None] = {}
    for name in reported:
        if name in names:
            i = names.index(name)
            if i in free:
                j = free.index(i)
                var = covariance[j, j]
                out[name] = float(math.sqrt(var)) if np.isfinite(var) and var >= 0 else None
            else:
                out[name] = None
            continue
        grad = central_gradient(lambda t: problem.law.report(t)[name], theta, free)
        var = float(grad @ covariance @ grad)
        out[name] = math.sqrt(var) if np.isfinite(var) and var >= 0 else None
    return out
