"""Reproduce the published fits of the shared reference data with this package, next to the published values.

Writes results/reproduction/published_vs_ours.md (one row per published number) and figures (PDF + PNG):
OptiMetal data axis (1D broken law), OptiMetal grid surfaces (kaplan-broken), Chinchilla surface (Hoffmann's recipe).
Run: python analysis/reproduce_published.py [--out results/reproduction]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from scaling.analysis.fit2d import Fit2DSettings, fit2d_table
from scaling.analysis.fitting import fit
from scaling.analysis.laws import get_law
from scaling.analysis.table import curves, read_table
from scaling.analysis.uncertainty import bootstrap
from scaling.atomic import atomic_write_text
from scaling.plot.figures import plot_fit1d, plot_fit2d_all
from scaling.reference import reference_data_dir

DATA_AXIS = {  # model: a_D1, a_D2, log10 D_c, AICc
    "OptiMetal2B (CGC)": (0.15, 0.42, 4.72, -57.74),
    "OptiMetal2B (TC)": (0.18, 0.39, 4.62, -44.88),
    "OptiMetal3B (TC)": (0.17, 0.38, 4.43, -57.70),
}
PARAM_AXIS = {  # model: a_N, log10 N0, L_inf, AICc
    "OptiMetal2B (CGC)": (0.53, 4.40, 1.01, -60.97),
    "OptiMetal2B (TC)": (0.58, 4.33, 1.03, -54.73),
    "OptiMetal3B (TC)": (0.41, 3.95, 0.89, -51.17),
}
GRID = {  # law: model: aN, aD1, aD2, log10 Nc, log10 Dc, L0 (hoffmann), AICc
    "kaplan-broken": {"OptiMetal2B (TC)": (0.30, 0.20, 0.37, 5.36, 4.51, None, -344.50),
                      "OptiMetal3B (TC)": (0.33, 0.16, 0.46, 5.14, 4.47, None, -359.55)},
    "hoffmann-broken": {"OptiMetal2B (TC)": (0.43, 0.26, 0.31, 4.38, 4.00, 0.151, -253.68),
                        "OptiMetal3B (TC)": (0.77, 0.13, 0.61, 4.86, 4.12, 0.296, -285.21)},
}
CHINCHILLA = {"E": 1.8172, "A": 477.84, "B": 2143.86, "alpha": 0.3473, "beta": 0.3672}
CHINCHILLA_SE = {"E": 0.0257, "A": 124.52, "B": 1293.28, "alpha": 0.0154, "beta": 0.0206}
BNSL = {"a": 0.41388, "b": 2.27727, "c0": 0.055077, "c1": 5.66290, "d1": 612.58, "f1": 0.059193,
        "rmsle_fit": 6.0e-4, "rmsle_extrapolated": 1.09e-2}


def _row(rows, source, model, quantity, published, ours, digits=3):
    fmt = (lambda v: "" if v is None else f"{v:.{digits}f}" if abs(v) < 1e4 else f"{v:.4g}")
    delta = "" if published is None or ours is None else fmt(ours - published)
    rows.append(f"| {source} | {model} | {quantity} | {fmt(published)} | {fmt(ours)} | {delta} |")


def data_axis(folder: Path, out: Path, rows: list[str]) -> None:
    table = read_table(folder / "optimetal_data_scaling_seeds.csv")
    fits = []
    for curve in curves(table, "D_train", "val_loss", ["model"]):
        law = get_law("broken", breaks=1, tie_amplitude=True)
        result = fit(law, curve.x, curve.y, sigma=curve.y_std, space="linear", fixed={"a": 0.0, "f1": 1.0})
        boot = bootstrap(result, curve, n_boot=400, seed=0, sigma=curve.y_std)
        model = curve.group["model"]
        a1, a2, log_dc, aicc = DATA_AXIS[model]
        _row(rows, "OptiMetal data axis", model, "a_D1", a1, result.exponents[0], 2)
        _row(rows, "OptiMetal data axis", model, "a_D2", a2, result.exponents[1], 2)
        _row(rows, "OptiMetal data axis", model, "log10 D_c", log_dc, math.log10(result.breaks[0]), 2)
        lo, hi = boot.breaks_ci95[0]
        rows.append(f"| OptiMetal data axis | {model} | log10 D_c 95% (bootstrap) | published about "
                    f"{'[4.69, 4.73]' if 'CGC' in model else '[4.59, 4.71]' if '2B' in model else '[4.42, 4.49]'} "
                    f"| [{math.log10(lo):.2f}, {math.log10(hi):.2f}] | |")
        _row(rows, "OptiMetal data axis", model, "AICc", aicc, result.aicc, 2)
        fits.append({"group": curve.group, "law": "broken", "params": result.params, "stderr": result.stderr,
                     "exponents": result.exponents, "breaks": result.breaks,
                     "breaks_ci95": [list(b) for b in boot.breaks_ci95]})
    plot_fit1d(table, {"fits": fits}, out / "optimetal_data_axis.pdf", x="D_train", y="val_loss", group=["model"])


def param_axis(folder: Path, rows: list[str]) -> None:
    table = read_table(folder / "optimetal_param_scaling_seeds.csv")
    for curve in curves(table, "N_params", "val_loss", ["model"]):
        result = fit(get_law("power+floor"), curve.x, curve.y, sigma=curve.y_std, space="linear")
        a, b, c = (result.params[k] for k in ("a", "b", "c"))
        model = curve.group["model"]
        a_n, log_n0, floor, aicc = PARAM_AXIS[model]
        _row(rows, "OptiMetal param axis", model, "a_N", a_n, c, 2)
        _row(rows, "OptiMetal param axis", model, "log10 N0", log_n0, math.log10(b) / c, 2)
        _row(rows, "OptiMetal param axis", model, "L_inf", floor, a, 2)
        _row(rows, "OptiMetal param axis", model, "AICc", aicc, result.aicc, 2)


def grid(folder: Path, out: Path, rows: list[str]) -> None:
    for law, published in GRID.items():
        settings = Fit2DSettings(law=law, space="linear", weights="seed-std", bootstrap=200 if law == "kaplan-broken" else 0)
        doc = fit2d_table(str(folder / "optimetal_grid_ND_seeds.csv"), "N_params", "D_train", "val_loss", ["model"],
                          settings=settings)
        for entry in doc["fits"]:
            model = entry["group"]["model"]
            a_n, a_d1, a_d2, log_nc, log_dc, floor, aicc = published[model]
            p = entry["params"]
            for name, pub, ours in (("aN", a_n, p["aN"]), ("aD1", a_d1, p["aD1"]), ("aD2", a_d2, p["aD2"]),
                                    ("log10 Nc", log_nc, math.log10(p["Nc"])), ("log10 Dc", log_dc, math.log10(p["Dc"])),
                                    ("L0", floor, p.get("L0")), ("AICc", aicc, entry["aicc"])):
                if pub is not None:
                    _row(rows, f"OptiMetal grid {law}", model, name, pub, ours, 2)
        if law == "kaplan-broken":
            atomic_write_text(out / "optimetal_grid_kaplan.json", json.dumps(doc, indent=1) + "\n")
            plot_fit2d_all(doc, out / "optimetal_grid_kaplan.pdf")


def chinchilla(folder: Path, out: Path, rows: list[str]) -> None:
    settings = Fit2DSettings(law="chinchilla", loss="huber", huber_delta=1e-3, bootstrap=400)
    doc = fit2d_table(str(folder / "chinchilla_epoch_N_D_loss.csv"), "N_params", "D_tokens", "loss",
                      where="epoch_excluded_outlier == 0", settings=settings)
    (entry,) = doc["fits"]
    for name, value in CHINCHILLA.items():
        _row(rows, "Chinchilla (Hoffmann recipe)", "240 points", name, value, entry["params"][name], 4)
    pairs = fit2d_table(str(folder / "chinchilla_epoch_N_D_loss.csv"), "N_params", "D_tokens", "loss",
                        where="epoch_excluded_outlier == 0",
                        settings=dataclasses.replace(settings, bootstrap_method="pairs"))["fits"][0]
    for name, value in CHINCHILLA_SE.items():
        _row(rows, "Chinchilla bootstrap SE", "replication (pairs) vs ours (pairs)", name, value,
             pairs["bootstrap"]["stderr"][name], 4)
    for name, value in CHINCHILLA_SE.items():
        _row(rows, "Chinchilla bootstrap SE", "replication (pairs) vs ours (residuals)", name, value,
             entry["bootstrap"]["stderr"][name], 4)
    plot_fit2d_all(doc, out / "chinchilla.pdf")


def bnsl(folder: Path, rows: list[str]) -> None:
    table = read_table(folder / "bnsl_4digit_addition.csv")
    split = np.array(table.columns["split"])
    x = np.array(table.columns["dataset_size"], float)
    y = np.array(table.columns["test_cross_entropy"], float)
    train = split == "fit"
    result = fit(get_law("broken", breaks=1), x[train], y[train], space="log")
    for name in ("a", "b", "c0", "c1", "d1", "f1"):
        _row(rows, "BNSL 4-digit addition", "14 fitted points", name, BNSL[name], result.params[name], 4)
    predicted = result.law.evaluate(x[~train], result.theta)
    extrapolated = float(np.sqrt(np.mean((np.log(predicted) - np.log(y[~train])) ** 2)))
    _row(rows, "BNSL 4-digit addition", "14 fitted points", "RMSLE fitted", BNSL["rmsle_fit"], result.rmsle, 5)
    _row(rows, "BNSL 4-digit addition", "3 held out", "RMSLE extrapolated", BNSL["rmsle_extrapolated"], extrapolated, 5)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "reproduction"))
    args = parser.parse_args(argv)
    folder = reference_data_dir()
    if folder is None:
        raise SystemExit("reference data absent: set SCALING_REFERENCE_DATA")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = ["| source | model | quantity | published | ours | ours - published |", "|---|---|---|---|---|---|"]
    data_axis(folder, out, rows)
    param_axis(folder, rows)
    grid(folder, out, rows)
    chinchilla(folder, out, rows)
    bnsl(folder, rows)
    text = ("# Published fits of the reference data vs this package\n\n"
            "Regenerate with `python analysis/reproduce_published.py`. Published values from "
            "../shared/reference-data/README.md.\n\n" + "\n".join(rows) + "\n")
    table_path = out / "published_vs_ours.md"
    atomic_write_text(table_path, text)
    return table_path


if __name__ == "__main__":
    print(main())
