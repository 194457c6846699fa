"""Bootstrap 95% intervals for a fitted law, calibrated for the few seeds a scaling study has.

Resampling: where every x has the same labelled seeds (a sweep's `seed` column), each seed's offset (its mean
deviation over the curve, in the fitting space) is resampled once per replicate and the residuals about it within each
x ("paired-seeds"): a seed fixes the initialisation and the nested subsets at every x, so its offset moves the
curve's level, not its shape, and read as independent noise at each x it widened a break's band by an order of
magnitude (benchmarks/bench_paired_seeds.py). Otherwise, where every x has at least two seeds, the seeds are
resampled with replacement within each x and the mean's deviation from the observed mean is rescaled by
sqrt(m/(m-1)) (m seeds), which removes the bootstrap's (m-1)/m shrinkage of the variance of a mean (a factor 0.82
in standard deviation for three seeds). Otherwise (some x
has a single seed) a residual bootstrap adds to the fitted curve residuals drawn with replacement from the centred
fit residuals (in the fitting space, so multiplicative noise in log space), rescaled by sqrt(n/(n-k)) for the
fitted parameters. Drawing from the pool, not flipping each point's own residual (a Rademacher wild bootstrap),
matters: a sharp break sits between two x values where the fit leaves small residuals, and sign flips of small
residuals never move it (measured coverage of the break: 86% with sign flips, 94-96% with the pool).

Intervals: percentile intervals, widened about the point estimate by t_{0.975, nu}/z_{0.975} with nu the residual
degrees of freedom of the data (see `_dof_estimator`; n-k for the residual bootstrap), because the
bootstrap treats the observed spread as the true one. Positive-scale parameters (breaks, amplitudes, sharpness)
are widened in log space, so their intervals are asymmetric. `CALIBRATION` records the measured coverage.

Pairs (`method="pairs"`): the points of the curve, rows (x, y[, sigma]) with y the seed mean, are drawn with
replacement (case resampling, as Besiroglu et al.'s Chinchilla replication), a draw with no more distinct points than
free parameters being redrawn. Their intervals are plain percentile intervals and their standard errors plain
standard deviations over the replicates, with no t widening: that is what the replication reports, and the point
resampling already carries the design's variability (it is not calibrated on the acceptance family like "auto").

All replicates are solved as one batch (`scaling.analysis.optimize`), started from the best fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scaling.analysis.fitting import FitResult, Problem, central_gradient, natural_jacobian
from scaling.analysis.optimize import levenberg_marquardt
from scaling.analysis.table import Curve
from scaling.errors import InputError

METHODS = ("auto", "pairs")

Z_975 = 1.959963984540054
# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (beyond 30, a close approximation is used).
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
          2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_975(dof: float) -> float:
    """Student's t 97.5% quantile for real dof >= 1: the table below 30, interpolated in (1/dof, ln t); the
    Cornish-Fisher expansion above. Within 3% of the exact value for dof in (1, 2), within 0.3% beyond."""
    dof = max(float(dof), 1.0)
    if dof <= len(_T_975):
        lo = int(math.floor(dof))
        if lo == dof:
            return _T_975[lo - 1]
        weight = (1 / lo - 1 / dof) / (1 / lo - 1 / (lo + 1))
        return math.exp((1 - weight) * math.log(_T_975[lo - 1]) + weight * math.log(_T_975[lo]))
    z = Z_975
    return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)


MIN_REPLICATES = 40  # fewer: the 2.5% and 97.5% quantiles are the extreme draws, not a 95% interval
MAX_REPLICATES = 1_000_000  # every replicate's y and parameters are held in memory (N x (points + params) x 8 B)


def check_replicates(n_boot: int) -> None:
    """`--bootstrap N`: 0 (no bootstrap) or MIN_REPLICATES..MAX_REPLICATES, else an InputError saying why."""
    if n_boot == 0:
        return
    if n_boot < 0:
        raise InputError(f"--bootstrap {n_boot}: must be >= 0 (0: no intervals)")
    if n_boot < MIN_REPLICATES:
        raise InputError(f"--bootstrap {n_boot}: a 95% interval needs at least {MIN_REPLICATES} replicates (with "
                         "fewer its ends are the extreme draws); use 0 for none or 200-1000")
    if n_boot > MAX_REPLICATES:
        raise InputError(f"--bootstrap {n_boot}: at most {MAX_REPLICATES:,} replicates (all are held in memory, "
                         f"about {n_boot * 64 / 2**30:.0f} GiB per 8 points and parameters; 10^3-10^4 fix a 95% "
                         "interval's ends to a few percent)")


@dataclass
class BootstrapResult:
    """95% intervals per reported parameter, per exponent and per break (x units), plus the raw samples."""

    params_ci95: dict[str, tuple[float, float]]
    exponents_ci95: list[tuple[float, float]]
    breaks_ci95: list[tuple[float, float]]
    samples: np.ndarray  # [n_valid, P]
    method: str  # "paired-seeds", "seeds", "residuals" or "pairs"
    n_valid: int
    widening: float
    draws: np.ndarray | None = None  # pairs: the point indices [n_valid, n] each kept replicate was fitted on


def paired_parts(curve: Curve, space: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Each seed's offset b [m] and the residuals e [n, m] left about the x means, in the fitting space, of a
    curve whose every x has the same seeds (else None): z[x, s] = mean_s z[x] + b[s] + e[x, s], sum b = 0."""
    z = curve.paired_seeds()
    if z is None or len(z) < 3:
        return None
    if space == "log":
        if np.any(z <= 0):
            return None
        z = np.log(z)
    offsets = z.mean(axis=0) - z.mean()
    return offsets, z - z.mean(axis=1, keepdims=True) - offsets


def resample(curve: Curve, result: FitResult, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, str, int]:
    """Replicate y values [n_boot, n], the method, and the degrees of freedom behind the spread."""
    paired = paired_parts(curve, result.options.space)
    if paired is not None:
        return _resample_paired(curve, result, paired, n_boot, rng)
    if np.all(curve.n_seeds >= 2):
        out = np.empty((n_boot, len(curve.y)))
        for j, seeds in enumerate(curve.seeds):
            m = len(seeds)
            means = seeds[rng.integers(0, m, size=(n_boot, m))].mean(axis=1)
            out[:, j] = curve.y[j] + math.sqrt(m / (m - 1)) * (means - curve.y[j])
        floor = 1e-3 * np.min(curve.y)
        return np.maximum(out, floor) if result.options.space == "log" else out, "seeds", int(np.sum(curve.n_seeds - 1))
    law, theta = result.law, result.theta
    n, k = len(curve.y), result.k
    inflate = math.sqrt(n / (n - k)) if n > k else 1.0
    log = result.options.space == "log"
    fitted = law.log_evaluate(curve.x, theta) if log else law.evaluate(curve.x, theta)
    residuals = (np.log(curve.y) if log else curve.y) - fitted
    pool = inflate * (residuals - residuals.mean())
    noise = pool[rng.integers(0, n, size=(n_boot, n))]
    return (np.exp(fitted + noise) if log else fitted + noise), "residuals", n - k


def _resample_paired(curve: Curve, result: FitResult, parts: tuple[np.ndarray, np.ndarray], n_boot: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, str, int]:
    """Paired seeds: a seed's offset, shared by all its x (its initialisation, its nested subsets), moves the
    curve's level, not its shape, so it is resampled once per replicate (m seeds drawn with replacement), and the
    residuals about it are resampled within each x. Rescaled by sqrt(m/(m-1)), and the residuals also by
    sqrt(n/(n-1)) for the offsets estimated from the same n points; (m-1)(n-1) degrees of freedom."""
    offsets, residuals = parts
    n, m = residuals.shape
    level = math.sqrt(m / (m - 1)) * offsets[rng.integers(0, m, size=(n_boot, m))].mean(axis=1)
    draws = rng.integers(0, m, size=(n_boot, n, m))
    within = residuals[np.arange(n)[None, :, None], draws].mean(axis=2) * math.sqrt(m / (m - 1) * n / (n - 1))
    deviation = level[:, None] + within
    replicates = curve.y * np.exp(deviation) if result.options.space == "log" else curve.y + deviation
    return replicates, "paired-seeds", (m - 1) * (n - 1)


def pairs_indices(n: int, k: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Indices [n_boot, n] of the points each pairs replicate draws with replacement; a draw with at most `k`
    distinct points (too few to determine k free parameters) is redrawn."""
    index = rng.integers(0, n, size=(n_boot, n))
    if n <= k:
        return index
    for _ in range(100):
        short = np.array([len(np.unique(row)) <= k for row in index])
        if not short.any():
            break
        index[short] = rng.integers(0, n, size=(int(short.sum()), n))
    return index


def _pairs_residuals(problem: Problem, index: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Residuals of replicate `rows` on its drawn points: the law is evaluated at the curve's points once and the
    residuals gathered by `index`, so duplicates count once per draw for least squares and Huber alike."""

    def residuals(u: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.take_along_axis(problem.residuals(u, np.zeros_like(rows)), index[rows], axis=1)

    return residuals


def replicate_starts(problem: Problem, result: FitResult, n_alternatives: int = 2) -> np.ndarray:
    """Starts for every replicate: the best fit plus up to `n_alternatives` distinct other local solutions of the
    multi-start, pulled off the flat ends of bounded parameters, so a replicate can leave the best basin."""
    pmap = problem.pmap
    chosen = [pmap.interior(pmap.to_unbounded(result.theta[None])[0])]
    for theta in result.alternatives if result.alternatives is not None else []:
        if len(chosen) > n_alternatives:
            break
        u = pmap.interior(pmap.to_unbounded(theta[None])[0])
        if np.all(np.isfinite(u)) and min(np.max(np.abs(u - c)) for c in chosen) > 0.1:
            chosen.append(u)
    return np.array(chosen)


def _interval(estimate: float, values: np.ndarray, log: bool, widening: float) -> tuple[float, float]:
    if log:
        values = np.log(np.maximum(values, 1e-300))
        estimate = math.log(max(estimate, 1e-300))
    lo, hi = np.percentile(values, [2.5, 97.5])
    lo = estimate - widening * max(estimate - lo, 0.0)
    hi = estimate + widening * max(hi - estimate, 0.0)
    return (math.exp(lo), math.exp(hi)) if log else (float(lo), float(hi))


def bootstrap(
    result: FitResult,
    curve: Curve,
    n_boot: int = 1000,
    seed: int = 0,
    sigma: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 250,
    method: str = "auto",
) -> BootstrapResult:
    """Bootstrap the fit `result` of `curve` (with the same options and weights `sigma`): 95% intervals.
    method: "auto" (seeds within each x, else pooled residuals; calibrated) or "pairs" (points drawn with
    replacement; plain percentile intervals)."""
    if method not in METHODS:
        raise InputError(f"--bootstrap-method {method!r}: choose from {', '.join(METHODS)}")
    rng = np.random.default_rng(seed)
    draws = None
    if method == "pairs":
        problem = Problem(result.law, curve.x, curve.y, sigma, result.options)
        draws = pairs_indices(len(curve.y), len(problem.pmap.free_index), n_boot, rng)
        residual_fn = _pairs_residuals(problem, draws)
        dof = len(curve.y) - result.k
    else:
        replicates, method, dof = resample(curve, result, n_boot, rng)
        problem = Problem(result.law, curve.x, replicates, sigma, result.options)
        residual_fn = problem.residuals
    starts = replicate_starts(problem, result)
    n_starts = len(starts)
    solved, kept = [], []
    for first in range(0, n_boot, chunk):
        rows = np.arange(first, min(first + chunk, n_boot))
        u0 = np.tile(starts, (len(rows), 1))
        solution = levenberg_marquardt(residual_fn, u0, np.repeat(rows, n_starts),
                                       result.options.loss, result.options.huber_delta)
        cost = np.where(np.isfinite(solution.cost), solution.cost, np.inf).reshape(len(rows), n_starts)
        best = np.argmin(cost, axis=1)
        ok = np.isfinite(cost[np.arange(len(rows)), best])
        u = solution.u.reshape(len(rows), n_starts, -1)[np.arange(len(rows)), best]
        solved.append(problem.pmap.to_natural(u[ok]))
        kept.append(rows[ok])
        if progress is not None:
            progress(len(rows))
    samples = np.concatenate(solved)
    law = result.law
    dof_of = _dof_estimator(result, curve, sigma, method, dof)
    free = Problem(law, curve.x, curve.y, sigma, result.options).pmap.free_index
    widenings = []

    def interval(fn, index, estimate, values, log):
        if np.ptp(values) == 0:
            return (float(estimate), float(estimate))
        if method == "pairs":
            widening = 1.0
        else:
            gradient = central_gradient(lambda t: np.asarray(fn(t, None))[index], result.theta, free)
            widening = t_975(dof_of(gradient)) / Z_975
        widenings.append(widening)
        return _interval(estimate, values, log, widening)

    reported_names = list(result.params)
    report = lambda theta, _: np.array(list(law.report(theta).values()))  # noqa: E731
    reported = np.array([report(theta, None) for theta in samples])
    log_names = {p.name for p in law.parameters if p.scale == "log"}
    params_ci95 = {}
    for i, name in enumerate(reported_names):
        values = reported[:, i]
        log = name in log_names or (name not in law.param_names and bool(np.all(values > 0)))
        params_ci95[name] = interval(report, i, result.params[name], values, log)
    exponents_ci95, breaks_ci95 = [], []
    if law.n_inputs == 1:
        exps, brks = law.exponents(samples), law.breaks(samples)
        exponents_ci95 = [interval(lambda t, _: law.exponents(t), i, e, exps[:, i], False)
                          for i, e in enumerate(result.exponents)]
        breaks_ci95 = [interval(lambda t, _: law.breaks(t), i, b, brks[:, i], True)
                       for i, b in enumerate(result.breaks)]
    widening = max(widenings, default=1.0)
    kept_draws = draws[np.concatenate(kept)] if draws is not None else None
    return BootstrapResult(params_ci95, exponents_ci95, breaks_ci95, samples, method, len(samples), widening,
                           kept_draws)



def _dof_estimator(result: FitResult, curve: Curve, sigma, method: str, dof: int) -> Callable[[np.ndarray], float]:
    """Degrees of freedom behind a quantity's bootstrap spread.

    Wild bootstrap: n - k. Seed resampling: the Welch-Satterthwaite effective dof of the quantity's variance
    sum_i (g_i)^2 s_i^2 / m_i, where g_i is the quantity's sensitivity to the mean at x_i (from the fit's Jacobian)
    and s_i^2 the seed variance (m_i - 1 dof). A break located by the few points around it thus gets the few dof
    those points carry, and a correspondingly wider t quantile. Paired seeds: the same with the residuals about
    the seeds' offsets, each x's variance carrying (m-1)(n-1)/n dof."""
    if method not in ("seeds", "paired-seeds"):
        return lambda grad: float(dof)
    problem = Problem(result.law, curve.x, curve.y, sigma, result.options)
    jac = natural_jacobian(problem, result.theta)
    influence = np.linalg.pinv(jac.T @ jac) @ jac.T / problem.scale[0]  # d theta_free / d target_i
    if method == "paired-seeds":
        residuals = paired_parts(curve, result.options.space)[1]
        n, m_seeds = residuals.shape
        var_mean = n / (n - 1) * np.sum(residuals**2, axis=1) / (m_seeds - 1) / m_seeds
        point_dof = np.full(n, (m_seeds - 1) * (n - 1) / n)
    else:
        m = curve.n_seeds.astype(float)
        var_mean = curve.y_std**2 / (m - 1)
        if result.options.space == "log":
            var_mean = var_mean / curve.y**2
        point_dof = m - 1

    def estimate(grad: np.ndarray) -> float:
        parts = (grad @ influence) ** 2 * var_mean
        denominator = np.sum(parts**2 / point_dof)
        if denominator <= 0:
            return float(dof)
        return float(min(np.sum(parts) ** 2 / denominator, dof))

    return estimate
