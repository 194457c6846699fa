"""How often the demo's broken-law fit resolves a break on the demo's D grid, on synthetic curves of known shape.

A curve falls as D^-0.9 and saturates (slope 0) above a break at D = 70, with sharpness f (1: Grossmann's smooth
form, whose slope changes over two decades; 0.3: a sharper knee); each seed's loss carries log-normal noise.
Each replicate is fitted as `scaling demo` fits (`broken+amplitude`, a = 0, 200 bootstrap replicates over seeds)
with the sharpness fixed at 1 (the demo's setting), fixed at 0.3, or free, and counted resolved when the break's
95% band leaves two grid points on each side (scaling.analysis.regimes). Run:
`python analysis/break_resolution.py --reps 8` (about 3 CPU minutes).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.analysis.fit1d import FitSettings, fit_table
from scaling.analysis.regimes import describe_breaks

D_GRID = np.array([10, 20, 40, 80, 160, 320, 480.0])
BREAK = 70.0


def curve(d: np.ndarray, sharpness: float) -> np.ndarray:
    return 3.0 * d ** -0.9 * (1 + (d / BREAK) ** (1 / sharpness)) ** (0.9 * sharpness)


def resolved_fraction(true_sharpness, noise, seeds, fixed, reps, folder: Path) -> tuple[int, str]:
    """Replicates whose break is resolved, and the median 95% band (median lower and upper ends)."""
    hits, bands = 0, []
    for rep in range(reps):
        rng = np.random.default_rng(rep)
        rows = [{"train_size": d, "seed": s, "status": "done",
                 "val_loss": curve(np.array([d]), true_sharpness)[0] * np.exp(rng.normal(0, noise))}
                for d in D_GRID for s in range(seeds)]
        path = folder / "curve.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        settings = FitSettings(law="broken+amplitude", fixed=fixed, bootstrap=200)
        entry = fit_table(str(path), "train_size", "val_loss", [], None, settings)["fits"][0]
        hits += describe_breaks(entry, D_GRID, "train_size") is not None
        lo, hi = entry["breaks_ci95"][0]
        bands.append((lo or 0.0, hi or np.inf))
    lo, hi = np.median(np.array(bands), axis=0)
    return hits, f"[{lo:.0f}, {hi:.0f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=8)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    fits = {"f1 = 1 (demo)": {"a": 0.0, "f1": 1.0}, "f1 = 0.3": {"a": 0.0, "f1": 0.3}, "f1 free": {"a": 0.0}}
    print("| true sharpness | noise per seed | seeds | " + " | ".join(f"{name}: resolved, median band" for name in fits) + " |")
    print("|---|---|---|" + "---|" * len(fits))
    with tempfile.TemporaryDirectory() as folder:
        for true_sharpness, noise, seeds in itertools.product((1.0, 0.3), (0.05, 0.15), (2, 3)):
            cells = []
            for fixed in fits.values():
                hits, band = resolved_fraction(true_sharpness, noise, seeds, fixed, args.reps, Path(folder))
                cells.append(f"{hits}/{args.reps} {band}")
            print(f"| {true_sharpness} | {noise:.0%} | {seeds} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
