"""Random broken power laws with seed noise and known truth, for checking parameter recovery and interval coverage;
and Chinchilla grids with measured compute (`chinchilla_grid`), for checking the compute-optimal frontier.

The family is the issue's acceptance family: first exponent 0.05-0.5, second larger by 0.15-0.6, sharpness
0.1-1, the break inside the middle 60% of the log x range, 7-12 x values over 2-4 decades, 3 seeds with 1-3%
multiplicative Gaussian noise, no floor (a = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling.analysis.laws import get_law


@dataclass
class SyntheticCurve:
    x: np.ndarray  # [n]
    seeds: np.ndarray  # [n, n_seeds]
    theta: np.ndarray  # true parameters of `broken` (a, b, c0, c1, d1, f1)

    @property
    def exponents(self) -> tuple[float, float]:
        return float(self.theta[2]), float(self.theta[2] + self.theta[3])

    @property
    def break_x(self) -> float:
        return float(self.theta[4])


def random_broken_curve(rng: np.random.Generator, n_seeds: int = 3) -> SyntheticCurve:
    c0 = rng.uniform(0.05, 0.5)
    c1 = rng.uniform(0.15, 0.6)
    sharpness = rng.uniform(0.1, 1.0)
    n = int(rng.integers(7, 13))
    decades = rng.uniform(2.0, 4.0)
    start = rng.uniform(2.0, 4.0)
    log_x = np.linspace(start, start + decades, n) * np.log(10.0)
    log_break = log_x[0] + (log_x[-1] - log_x[0]) * rng.uniform(0.2, 0.8)
    theta = np.array([0.0, np.exp(c0 * log_x[0]), c0, c1, np.exp(log_break), sharpness])
    y = get_law("broken").evaluate(np.exp(log_x), theta)
    noise = rng.uniform(0.01, 0.03)
    seeds = y[:, None] * (1.0 + noise * rng.standard_normal((n, n_seeds)))
    return SyntheticCurve(np.exp(log_x), seeds, theta)


def write_table(curves: list[SyntheticCurve], path) -> None:
    """A tidy CSV (curve, x, seed, y) that `scaling fit --group curve` reads."""
    lines = ["curve,x,seed,y"]
    for i, curve in enumerate(curves):
        for x, values in zip(curve.x, curve.seeds):
            lines += [f"{i},{x:.10g},{s},{v:.10g}" for s, v in enumerate(values)]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


@dataclass
class SyntheticGrid:
    """A Chinchilla surface L = E + A/N^alpha + B/D^beta sampled on an N x D grid with seed noise, and a measured
    compute c N^a D^b per cell with its own noise: the known truth behind a compute-optimal frontier."""

    n: np.ndarray  # [cells]
    d: np.ndarray  # [cells]
    seeds: np.ndarray  # [cells, n_seeds] losses
    compute: np.ndarray  # [cells, n_seeds] measured compute
    theta: np.ndarray  # (E, A, B, alpha, beta)
    cost: tuple[float, float, float]  # (c, a, b)


def chinchilla_grid(rng: np.random.Generator, ns, ds, theta=(0.2, 8.0, 4.0, 0.4, 0.3), cost=(40.0, 1.2, 0.9),
                    n_seeds: int = 3, noise: float = 0.01, compute_noise: float = 0.03) -> SyntheticGrid:
    """Every (N, D) of ns x ds with `n_seeds` losses (multiplicative Gaussian `noise`) and measured compute
    (log-normal `compute_noise`, as timing or counting jitter)."""
    n, d = (a.ravel() for a in np.meshgrid(np.asarray(ns, float), np.asarray(ds, float), indexing="ij"))
    theta = np.asarray(theta, dtype=float)
    y = get_law("chinchilla").evaluate(np.stack([n, d], axis=1), theta)
    seeds = y[:, None] * (1.0 + noise * rng.standard_normal((len(n), n_seeds)))
    c, a, b = cost
    compute = (c * n**a * d**b)[:, None] * np.exp(compute_noise * rng.standard_normal((len(n), n_seeds)))
    return SyntheticGrid(n, d, seeds, compute, theta, tuple(cost))


def write_grid(grid: SyntheticGrid, path) -> None:
    """A tidy CSV (n_params, train_size, seed, val_loss, train_flops) that `scaling fit2d` reads."""
    lines = ["n_params,train_size,seed,val_loss,train_flops"]
    for n, d, losses, flops in zip(grid.n, grid.d, grid.seeds, grid.compute):
        lines += [f"{n:.10g},{d:.10g},{s},{v:.10g},{f:.10g}" for s, (v, f) in enumerate(zip(losses, flops))]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
