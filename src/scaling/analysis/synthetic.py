"""Random broken power laws with seed noise and known truth, for checking parameter recovery and interval coverage.

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
