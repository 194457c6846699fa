"""The use-case study: run experiments/usecase.yaml (resumable), collect its table, fit each use-case metric's
data-scaling law per (arch, N), and draw the metric-vs-D/N figures and the loss-metric rank correlation.

    python analysis/usecase_study.py [--spec experiments/usecase.yaml] [--run runs/usecase] --out results/usecase

Writes OUT/results.csv (the tidy table with the metric columns), OUT/fits.json (one `scaling fit` document per
metric: power+floor law in D per arch and N, seeds averaged), OUT/correlation.json and OUT/*.pdf/png. Running it
again resumes the sweep (done cells are neither retrained nor re-evaluated).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FITTED = ("lattice_constant_error_pct", "bulk_modulus_error_pct", "c11_error_pct", "c12_error_pct", "c44_error_pct",
          "vacancy_formation_error_ev", "surface_energy_error_pct", "hot_force_mae_ev_a", "nve_drift_mev_atom_ps")


def scaling(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "scaling.cli", *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "experiments" / "usecase.yaml"))
    parser.add_argument("--run", default=str(REPO / "runs" / "usecase"))
    parser.add_argument("--out", default=str(REPO / "results" / "usecase"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scaling("sweep", "run", args.spec, "--out", args.run)
    table = out / "results.csv"
    scaling("sweep", "collect", args.run, "-o", str(table))
    fits = {}
    for metric in FITTED:
        target = out / f"fit_{metric}.json"
        try:
            scaling("-q", "fit", str(table), "--x", "train_size", "--y", metric, "--group", "arch", "--group",
                    "n_params", "--where", f"status == 'done' and {metric} > 0", "--law", "power+floor",
                    "--json", str(target))
        except subprocess.CalledProcessError as error:  # a metric without enough finite points: say so, go on
            fits[metric] = {"error": f"scaling fit exited {error.returncode}"}
            continue
        fits[metric] = json.loads(target.read_text())
        target.unlink()
    (out / "fits.json").write_text(json.dumps(fits, indent=2))
    scaling("evaluate", "--correlate", str(table), "--loss", "val_loss", "--bootstrap", str(args.bootstrap),
            "--out", str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
