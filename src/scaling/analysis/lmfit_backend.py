"""`optimizer="lmfit"`: the same problem solved by lmfit (Minimizer, method least_squares) from each start.

lmfit moves the natural parameters within their bounds itself; log-scale parameters are handed to it as their
logarithms (so amplitudes and breaks move in decades, as in the default solver). Used to cross-check the batched
numpy solver (tests assert both agree on the reference fits) and by anyone who prefers lmfit's machinery.
"""

from __future__ import annotations

import numpy as np

from scaling.analysis.fitting import Problem
from scaling.analysis.optimize import robust_cost


def minimise_lmfit(problem: Problem, u_starts: np.ndarray, max_starts: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Solve from the best `max_starts` starts (unbounded u [S, F]); returns solutions in u and their costs."""
    import lmfit

    pmap = problem.pmap
    names = [f"p{j}" for j in range(pmap.n_free)]
    options = problem.options
    solutions, costs = [], []
    for u0 in u_starts[:max_starts]:
        v0 = pmap.u_to_v(u0)  # the free parameters in the space they move in (log for log-scale ones)
        params = lmfit.Parameters()
        for name, value, lo, hi in zip(names, v0, pmap.lower, pmap.upper):
            params.add(name, value=float(value), min=float(lo), max=float(hi))

        def residual(p):
            v = np.array([p[name].value for name in names])
            return problem.residuals(pmap.v_to_u(v)[None], np.zeros(1, dtype=int))[0]

        loss = "huber" if options.loss == "huber" else "linear"
        fitted = lmfit.Minimizer(residual, params).minimize(
            method="least_squares", loss=loss, f_scale=options.huber_delta if loss == "huber" else 1.0,
            x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=20000,
        )
        u = pmap.v_to_u(np.array([fitted.params[name].value for name in names]))
        solutions.append(u)
        costs.append(robust_cost(problem.residuals(u[None], np.zeros(1, dtype=int)), options.loss, options.huber_delta)[0])
    return np.array(solutions), np.array(costs)
