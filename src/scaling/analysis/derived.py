"""Quantities derived from a fitted two-axis law L(N, D): the crossover line, local exponents on a grid, and the
compute-optimal allocation for a compute budget C = 6 N D or a fitted power law C = c N^a D^b.

Every function takes theta with an optional leading batch axis ([..., P]), so the same call turns a bootstrap's
replicates into intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling.analysis.laws2d import Chinchilla, Law2D

FLOPS_PER_PARAM_TOKEN = 6.0
_LOG_D_BRACKET = (-50.0, 120.0)  # ln D searched for the crossover: 2e-22 .. 1.3e52


def crossover_d(law: Law2D, theta: np.ndarray, n: np.ndarray, iterations: int = 80) -> np.ndarray:
    """D at which the data term equals the parameter term, for each N: [..., len(n)].

    Below this D the loss is data-limited (the local data exponent is near its asymptotic value); above it the
    capacity term dominates and more data helps less: the local data exponent has fallen to about half. It is the
    line where the regime of the surface changes as a function of N. Solved by bisection in ln D, vectorised over
    theta's batch axis and n (the data term falls monotonically with D for positive exponents); NaN where no
    crossing lies within D in [1e-22, 1e52].
    """
    theta = np.asarray(theta, dtype=float)
    log_n = np.log(np.asarray(n, dtype=float))
    target = law.log_n_term(log_n, theta)
    shape = np.broadcast_shapes(target.shape, theta.shape[:-1] + (1,))
    lo = np.full(shape, _LOG_D_BRACKET[0])
    hi = np.full(shape, _LOG_D_BRACKET[1])

    def excess(log_d: np.ndarray) -> np.ndarray:
        flat = law.log_d_term(log_d.reshape(-1, log_d.shape[-1])[..., :, None], _rows(theta, log_d.shape))
        return flat.reshape(log_d.shape) - target

    valid = (excess(lo) > 0) & (excess(hi) < 0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = excess(mid) > 0
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return np.where(valid, np.exp(0.5 * (lo + hi)), np.nan)


def _rows(theta: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """theta repeated so each flattened row of points [rows, m] meets its own parameter vector: [rows, m, P]."""
    batch = np.broadcast_to(theta[..., None, :] if theta.ndim > 1 else theta, shape + (theta.shape[-1],))
    return batch.reshape(-1, shape[-1], theta.shape[-1])


def local_exponents(law: Law2D, theta: np.ndarray, n: np.ndarray, d: np.ndarray, step: float = 1e-4):
    """(dlnL/dlnD, dlnL/dlnN) on the grid n x d, each [..., len(n), len(d)], by central differences in ln."""
    theta = np.asarray(theta, dtype=float)
    log_n, log_d = np.meshgrid(np.log(n), np.log(d), indexing="ij")

    def log_loss(dn: float, dd: float) -> np.ndarray:
        x = np.stack([np.exp(log_n.ravel() + dn), np.exp(log_d.ravel() + dd)], axis=1)
        return law.log_evaluate(x, theta).reshape(theta.shape[:-1] + log_n.shape)

    slope_d = (log_loss(0.0, step) - log_loss(0.0, -step)) / (2 * step)
    slope_n = (log_loss(step, 0.0) - log_loss(-step, 0.0)) / (2 * step)
    return slope_d, slope_n


@dataclass(frozen=True)
class CostModel:
    """Training compute as a power law of N and D, C = c N^a D^b: 6 N D (c=6, a=b=1) unless fitted to measured
    compute (scaling.analysis.frontier.fit_cost_model)."""

    c: float = FLOPS_PER_PARAM_TOKEN
    a: float = 1.0
    b: float = 1.0

    def d_of(self, n: np.ndarray, compute: np.ndarray) -> np.ndarray:
        """D that spends `compute` at N: (C / (c N^a))^(1/b)."""
        return (np.asarray(compute, dtype=float) / self.c / np.asarray(n, dtype=float) ** self.a) ** (1.0 / self.b)


ASSUMED_COST = CostModel()


def compute_optimal(law: Law2D, theta: np.ndarray, compute: np.ndarray,
                    cost: CostModel = ASSUMED_COST) -> dict[str, np.ndarray]:
    """N_opt(C), D_opt(C) and L_opt(C) minimising L(N, D) on the budget line cost(N, D) = C, for each budget C.

    For `chinchilla` the closed form of Hoffmann et al. (Appendix D), for the cost C = c N^a' D^b' (6 N D by
    default): N_opt = G (C/c)^a, D_opt = (C / (c N_opt^a'))^(1/b') with a = beta/(alpha b' + beta a'),
    b = alpha/(alpha b' + beta a') and G = (alpha A b' / (beta B a'))^(b'/(alpha b' + beta a')) (for 6 N D:
    a = beta/(alpha+beta), G = (alpha A / (beta B))^(1/(alpha+beta))). theta may carry a batch axis [..., P] then
    (bootstrap replicates: results [..., len(C)]). Other laws are minimised numerically on a ln N grid (12 decades
    around the 6ND-balanced N) refined by a parabola, with a and b the least-squares slopes of ln N_opt and ln D_opt
    against ln C; theta is one vector [P] there.
    """
    theta = np.asarray(theta, dtype=float)
    compute = np.asarray(compute, dtype=float)
    half = compute / cost.c
    if isinstance(law, Chinchilla):
        a_exp, b_exp, g = chinchilla_allocation(theta, cost)
        a_exp, b_exp, g = (np.asarray(v)[..., None] if np.ndim(v) else v for v in (a_exp, b_exp, g))
        n_opt = g * half**a_exp
    else:
        n_opt = np.array([_argmin_n(law, theta, c, cost) for c in compute])
        a_exp = b_exp = g = None
    d_opt = (half / n_opt**cost.a) ** (1.0 / cost.b)
    if theta.ndim == 1:
        loss = law.evaluate(np.stack([n_opt, d_opt], axis=1), theta)
    else:
        loss = np.array([law.evaluate(np.stack([n, d], axis=1), t) for n, d, t in zip(n_opt, d_opt, theta)])
    if a_exp is None:
        a_exp = float(np.polyfit(np.log(compute), np.log(n_opt), 1)[0]) if len(compute) > 1 else float("nan")
        b_exp = (1.0 - cost.a * a_exp) / cost.b
    else:
        a_exp, b_exp, g = (np.asarray(v)[..., 0] if np.ndim(v) else v for v in (a_exp, b_exp, g))
    return {"C": compute, "n_opt": n_opt, "d_opt": d_opt, "loss_opt": loss, "a": a_exp, "b": b_exp, "G": g}


def chinchilla_allocation(theta: np.ndarray, cost: CostModel = ASSUMED_COST) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """(a, b, G) of Hoffmann et al.'s closed form for the cost C = c N^a' D^b', vectorised over
    theta[..., 5] = (E, A, B, alpha, beta): N_opt = G (C/c)^a, D_opt ~ C^b."""
    theta = np.asarray(theta, dtype=float)
    big_a, big_b, alpha, beta = theta[..., 1], theta[..., 2], theta[..., 3], theta[..., 4]
    total = alpha * cost.b + beta * cost.a
    g = (alpha * big_a * cost.b / (beta * big_b * cost.a)) ** (cost.b / total)
    return beta / total, alpha / total, g


def _argmin_n(law: Law2D, theta: np.ndarray, compute: float, cost: CostModel = ASSUMED_COST,
              points: int = 801) -> float:
    centre = 0.5 * np.log(compute / FLOPS_PER_PARAM_TOKEN)
    log_n = np.linspace(centre - 6 * np.log(10), centre + 6 * np.log(10), points)
    x = np.stack([np.exp(log_n), cost.d_of(np.exp(log_n), compute)], axis=1)
    values = law.log_evaluate(x, theta)
    i = int(np.clip(np.nanargmin(values), 1, points - 2))
    y0, y1, y2 = values[i - 1 : i + 2]
    curvature = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / curvature if curvature > 0 else 0.0
    return float(np.exp(log_n[i] + shift * (log_n[1] - log_n[0])))
