"""A Levenberg-Marquardt least-squares solver in numpy, batched over many independent problems at once.

Why not scipy or lmfit here: a fit is many small problems (tens of starts per curve, a thousand bootstrap replicates)
of a handful of parameters and tens of points. Solving them as one batch costs a few numpy calls per iteration for
all of them together, where a loop over `least_squares` pays Python overhead per problem; and the module needs only
numpy, so `scaling fit` starts in a fraction of a second (importing lmfit alone takes 1 s, scipy.optimize 0.4 s).
lmfit remains available as `optimizer="lmfit"` (see `scaling.analysis.lmfit_backend`) and the tests check both agree.

Huber loss runs as iteratively reweighted least squares: each Gauss-Newton step weights residuals by
psi(r)/r = min(1, delta/|r|), and steps are accepted on the true Huber cost, so it converges to the Huber minimum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ResidualFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""residuals(u [B, F], rows [B]) -> r [B, n]: `rows` says which problem of the batch each u belongs to."""


@dataclass
class BatchSolution:
    u: np.ndarray  # [B, F]
    cost: np.ndarray  # [B], 0.5 * sum r^2 (lsq) or sum huber(r)
    iterations: np.ndarray  # [B]
    converged: np.ndarray  # bool [B]


def robust_cost(r: np.ndarray, loss: str, delta: float) -> np.ndarray:
    """Per-problem cost: 0.5*sum(r^2), or the Huber sum (quadratic inside delta, linear outside)."""
    r = np.where(np.isfinite(r), r, 1e150)
    if loss == "huber":
        a = np.abs(r)
        return np.sum(np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)), axis=-1)
    return 0.5 * np.sum(r * r, axis=-1)


def _irls_weights(r: np.ndarray, loss: str, delta: float) -> np.ndarray:
    if loss == "huber":
        return np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))
    return np.ones_like(r)


def _jacobian(residuals: ResidualFn, u: np.ndarray, rows: np.ndarray, r0: np.ndarray) -> np.ndarray:
    """Forward-difference Jacobian [B, n, F], all columns of all problems in one residual call."""
    b, f = u.shape
    h = 1e-7 * (1.0 + np.abs(u))
    shifted = np.repeat(u[:, None, :], f, axis=1) + np.eye(f)[None] * h[:, None, :]
    r = residuals(shifted.reshape(b * f, f), np.repeat(rows, f)).reshape(b, f, -1)
    return np.transpose((r - r0[:, None, :]) / h[:, :, None], (0, 2, 1))


def levenberg_marquardt(
    residuals: ResidualFn,
    u0: np.ndarray,
    rows: np.ndarray | None = None,
    loss: str = "lsq",
    delta: float = 1.0,
    max_iter: int = 300,
    ftol: float = 1e-12,
    xtol: float = 1e-10,
    max_step: float = 2.0,
) -> BatchSolution:
    """Minimise each problem's cost from its start u0[i]; all problems advance together, each with its own damping.

    A step moves no variable by more than `max_step` (a factor e^2 for log-scale parameters), so that a floor or an
    amplitude cannot jump to a vanishing value in one step and stay stuck there where its gradient vanishes."""
    u = np.array(u0, dtype=float, copy=True)
    b, f = u.shape
    rows = np.arange(b) if rows is None else np.asarray(rows)
    r = residuals(u, rows)
    r = np.where(np.isfinite(r), r, 1e150)
    cost = robust_cost(r, loss, delta)
    lam = np.full(b, 1e-3)
    iterations = np.zeros(b, dtype=int)
    converged = np.zeros(b, dtype=bool)
    need_jacobian = np.ones(b, dtype=bool)
    hess = np.zeros((b, f, f))
    grad = np.zeros((b, f))
    eye = np.eye(f)
    for _ in range(max_iter):
        active = np.flatnonzero(~converged)
        if active.size == 0:
            break
        refresh = active[need_jacobian[active]]
        if refresh.size:
            jac = _jacobian(residuals, u[refresh], rows[refresh], r[refresh])
            jac = np.where(np.isfinite(jac), jac, 0.0)
            w = _irls_weights(r[refresh], loss, delta)
            hess[refresh] = np.einsum("bni,bn,bnj->bij", jac, w, jac)
            grad[refresh] = np.einsum("bni,bn->bi", jac, w * r[refresh])
            need_jacobian[refresh] = False
        h = hess[active]
        diag = np.diagonal(h, axis1=1, axis2=2)
        damping = lam[active, None] * (diag + 1e-12 * (1.0 + diag.max(axis=1, keepdims=True)))
        system = h + eye[None] * damping[:, :, None]
        try:
            step = -np.linalg.solve(system, grad[active][..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = -grad[active] / (diag + damping + 1e-300)
        step = np.where(np.isfinite(step), step, 0.0)
        largest = np.max(np.abs(step), axis=1, keepdims=True)
        step = step * np.minimum(1.0, max_step / np.maximum(largest, 1e-300))
        u_new = u[active] + step
        r_new = residuals(u_new, rows[active])
        r_new = np.where(np.isfinite(r_new), r_new, 1e150)
        cost_new = robust_cost(r_new, loss, delta)
        iterations[active] += 1
        better = cost_new < cost[active]
        gain = cost[active] - cost_new
        small_step = np.max(np.abs(step) / (1.0 + np.abs(u[active])), axis=1) < xtol
        done = (better & ((gain <= ftol * cost[active]) | small_step)) | (~better & (small_step | (lam[active] > 1e12)))
        done |= cost_new < 1e-300
        accepted = active[better]
        u[accepted] = u_new[better]
        r[accepted] = r_new[better]
        cost[accepted] = cost_new[better]
        need_jacobian[accepted] = True
        lam[accepted] = np.maximum(lam[accepted] / 5.0, 1e-12)
        rejected = active[~better]
        lam[rejected] = lam[rejected] * 4.0
        converged[active[done]] = True
    return BatchSolution(u=u, cost=cost, iterations=iterations, converged=converged)
