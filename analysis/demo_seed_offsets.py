"""The demo's broken-law fit per N on a demo table, as measured and with each seed's offset removed.

Small models' seeds differ by a factor that is nearly the same at every D (the initialisation sets the capacity);
the demo's bootstrap over seeds treats that spread as independent at every point, which widens the break's band.
Removing each seed's offset (its curve divided by its geometric mean over D, times the geometric mean of all) keeps
the shape and leaves the point-to-point noise. Each variant is fitted as `scaling demo` fits (`broken+amplitude`,
a = 0, 200 bootstrap replicates over seeds) with the sharpness f1 fixed at 1 (the demo's setting) and at 0.3, and the
regime sentence is printed where the break is resolved (scaling.analysis.regimes). Run:
`python analysis/demo_seed_offsets.py scaling-demo/results.csv`.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.analysis.fit1d import FitSettings, fit_table
from scaling.analysis.regimes import describe_breaks


def without_seed_offsets(table: pd.DataFrame) -> pd.DataFrame:
    """Each (N, seed) curve divided by its geometric mean over D, times the N's geometric mean over all cells."""
    out = table.copy()
    log = np.log(out["val_loss"])
    seed_mean = log.groupby([out["n_params"], out["seed"]]).transform("mean")
    n_mean = log.groupby(out["n_params"]).transform("mean")
    out["val_loss"] = np.exp(log - seed_mean + n_mean)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", help="a demo results.csv (scaling sweep collect)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    table = pd.read_csv(args.table)
    table = table[table["status"] == "done"]
    cells = table.groupby("n_params").agg(seeds=("seed", "nunique"), ds=("train_size", "nunique"), n=("seed", "size"))
    whole = cells[(cells.seeds >= 2) & (cells.ds >= 5) & (cells.n == cells.seeds * cells.ds)].index
    table = table[table["n_params"].isin(whole)]  # every seed at every D: an offset is a mean over the same D
    with tempfile.TemporaryDirectory() as folder:
        for name, frame in (("as measured", table), ("seed offsets removed", without_seed_offsets(table))):
            path = Path(folder) / "t.csv"
            frame.to_csv(path, index=False)
            for f1 in (1.0, 0.3):
                settings = FitSettings(law="broken+amplitude", fixed={"a": 0.0, "f1": f1}, bootstrap=200)
                for entry in fit_table(str(path), "train_size", "val_loss", ["n_params"], None, settings)["fits"]:
                    n = entry["group"]["n_params"]
                    lo, hi = entry["breaks_ci95"][0]
                    words = describe_breaks(entry, frame.loc[frame["n_params"] == n, "train_size"], "train_size")
                    print(f"{name}, f1 = {f1}, N = {n}: break D = {entry['breaks'][0]:.0f} "
                          f"[{lo or 0:.0f}, {hi or np.inf:.0f}], exponents "
                          f"{' -> '.join(f'{e:.2f}' for e in entry['exponents'])}, RMSLE {entry['rmsle']:.3f}: "
                          f"{words or 'not resolved'}")


if __name__ == "__main__":
    main()
