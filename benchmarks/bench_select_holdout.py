"""Model selection by extrapolation: `--select-by holdout` against `--select` (AICc) and `--law broken` on public
learning curves whose largest points are held out.

Curves (from $SCALING_REFERENCE_DATA): Vita & Schwalbe-Koda's MACE and NequIP learning curves (energy and force RMSE
vs 5..500 training configurations; 5 points each; the 500-configuration point is held out), the NMT benchmark of
Alabdulmohsin et al. (log-perplexity vs examples seen; the rows with Training = 0 held out), and BNSL's 4-digit
addition (split = extrapolate held out). Each strategy fits the remaining points and predicts the held-out ones;
the figure is the RMSLE on the held-out points per curve, summarised by its median per dataset and overall.
`--law broken` is the full BNSL (5 free parameters) where a curve has enough points, and Grossmann's form
(`--fix a=0 --fix f1=1`, 3 free) on the 4-point Vita curves, where the full form cannot be fitted.
Usage: python benchmarks/bench_select_holdout.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.analysis.fit1d import FitSettings, fit_table
from scaling.errors import InputError
from scaling.plot.data import evaluate_fit

DATA = Path(os.environ.get("SCALING_REFERENCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "reference-data"))


def curves() -> dict[str, list[tuple[str, pd.DataFrame, pd.DataFrame]]]:
    """{dataset: [(curve name, training rows (x, y), held-out rows (x, y))]}."""
    out: dict[str, list] = {}
    for arch in ("mace", "nequip"):
        frame = pd.read_csv(DATA / f"vita2023_{arch}_learning_curves.csv")
        for column in ("e", "f"):
            name = f"vita {arch} {'energy' if column == 'e' else 'force'}"
            for model, rows in frame.groupby("model"):
                rows = rows.sort_values("n")
                xy = pd.DataFrame({"x": rows["n"].to_numpy(float), "y": rows[column].to_numpy(float)})
                out.setdefault(name, []).append((model, xy.iloc[:-1], xy.iloc[-1:]))
    frame = pd.read_csv(DATA / "revisiting_nsl_benchmark_NMT_subset.csv")
    for model, rows in frame.groupby("Model"):
        xy = pd.DataFrame({"x": rows["Seen Examples"].to_numpy(float), "y": rows["Loss"].to_numpy(float)})
        train = rows["Training"].to_numpy() == 1
        out.setdefault("NMT", []).append((model, xy[train], xy[~train]))
    frame = pd.read_csv(DATA / "bnsl_4digit_addition.csv")
    xy = pd.DataFrame({"x": frame["dataset_size"].to_numpy(float), "y": frame["test_cross_entropy"].to_numpy(float)})
    fit_rows = frame["split"].to_numpy() == "fit"
    out["BNSL 4-digit"] = [("addition", xy[fit_rows], xy[~fit_rows])]
    return out


def _top(train: pd.DataFrame, settings: FitSettings) -> dict | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "curve.csv"
        train.to_csv(path, index=False)
        try:
            return fit_table(str(path), "x", "y", (), None, settings)["fits"][0]
        except InputError:
            return None


def held_out_rmsle(entry: dict | None, test: pd.DataFrame) -> float:
    if entry is None:
        return float("nan")
    with np.errstate(all="ignore"):
        predicted = evaluate_fit(entry, test["x"].to_numpy(float))
    return float(np.sqrt(np.mean((np.log(predicted) - np.log(test["y"].to_numpy(float))) ** 2)))


STRATEGIES = {
    "holdout": lambda n: FitSettings(select=True, select_by="holdout"),
    "aicc": lambda n: FitSettings(select=True),
    "broken": lambda n: FitSettings(law="broken") if n >= 6 else FitSettings(law="broken", fixed={"a": 0.0, "f1": 1.0}),
}


def main() -> int:
    started = time.perf_counter()
    rows = []
    for dataset, items in curves().items():
        for name, train, test in items:
            row = {"dataset": dataset, "curve": name}
            for strategy, settings in STRATEGIES.items():
                entry = _top(train, settings(len(train)))
                row[strategy] = held_out_rmsle(entry, test)
                row[f"{strategy} law"] = "-" if entry is None else entry["law"] + (
                    f" ({', '.join(f'{k}={v:g}' for k, v in entry['fixed'].items())})" if entry["fixed"] else "")
            rows.append(row)
    table = pd.DataFrame(rows)
    print(f"{len(table)} curves, {time.perf_counter() - started:.1f} s\n")
    print("median held-out RMSLE (curves where the strategy gave a fit; n = curves)")
    print(f"{'dataset':<20} {'n':>3} {'holdout':>9} {'AICc':>9} {'broken':>9}   holdout <= AICc   holdout <= broken")
    groups = [*table.groupby("dataset", sort=False), ("all", table)]
    for dataset, part in groups:
        med = {s: statistics.median(v for v in part[s] if np.isfinite(v)) for s in STRATEGIES}
        wins_a = int((part["holdout"] <= part["aicc"] + 1e-12).sum())
        wins_b = int((part["holdout"] <= part["broken"] + 1e-12).sum())
        print(f"{dataset:<20} {len(part):>3} {med['holdout']:>9.4f} {med['aicc']:>9.4f} {med['broken']:>9.4f}"
              f"   {wins_a:>3}/{len(part):<3}          {wins_b:>3}/{len(part)}")
    print("\nlaws chosen (holdout | AICc):")
    print(table.groupby(["holdout law", "aicc law"]).size().sort_values(ascending=False).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
