"""Synthetic results tables shared by the fit and plot tests: a Kaplan-broken L(N, D) grid with seed noise."""

from __future__ import annotations

import csv

import numpy as np

from scaling.analysis.laws2d import KaplanBroken

TRUE = np.array([0.35, 0.15, 0.45, 2e5, 3e4])  # KaplanBroken's aN, aD1, aD2, Nc, Dc behind write_grid's table


def write_grid(path, seeds=(1, 2, 3), noise=0.01, groups=("twobody",)):
    """A tidy CSV (arch, n_params, train_size, seed, val_loss, status) of 5 N x 6 D cells per arch; returns path."""
    rng = np.random.default_rng(0)
    law = KaplanBroken()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "n_params", "train_size", "seed", "val_loss", "status"])
        for arch in groups:
            for n in np.geomspace(3e5, 1e8, 5):
                for d in np.geomspace(2.5e3, 1.6e5, 6):
                    clean = law.evaluate(np.array([[n, d]]), TRUE)[0]
                    for seed in seeds:
                        writer.writerow([arch, int(n), int(d), seed, clean * (1 + noise * rng.normal()), "done"])
    return path
