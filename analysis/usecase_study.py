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
import logging
import sys
from pathlib import Path

from scaling.analysis.correlation import correlate_table
from scaling.analysis.fit1d import FitSettings, fit_table
from scaling.errors import InputError
from scaling.outputs import use_file_backend
from scaling.sweep import collect, load_spec, run_sweep, write_table

REPO = Path(__file__).resolve().parents[1]
FITTED = ("lattice_constant_error_pct", "bulk_modulus_error_pct", "c11_error_pct", "c12_error_pct", "c44_error_pct",
          "vacancy_formation_error_ev", "surface_energy_error_pct", "hot_force_mae_ev_a", "nve_drift_mev_atom_ps")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "experiments" / "usecase.yaml"))
    parser.add_argument("--run", default=str(REPO / "runs" / "usecase"))
    parser.add_argument("--out", default=str(REPO / "results" / "usecase"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = run_sweep(load_spec(args.spec), args.run, spec_source=args.spec)
    if report.not_done:
        print(f"usecase study: {report.summary_of_not_done()}; the fits use the done cells", file=sys.stderr)
    table_path = write_table(collect(args.run), out / "results.csv")
    fits = {}
    for metric in FITTED:
        try:
            fits[metric] = fit_table(str(table_path), "train_size", metric, ["arch", "n_params"],
                                     f"status == 'done' and {metric} > 0", FitSettings(law="power+floor"))
        except InputError as error:  # a metric without enough finite points: say so, go on
            fits[metric] = {"error": str(error)}
    (out / "fits.json").write_text(json.dumps(fits, indent=2))

    from scaling.plot.data import as_frame
    from scaling.plot.usecase import correlation_figure, metric_figures

    use_file_backend()
    table = as_frame(str(table_path))
    document = correlate_table(table, loss="val_loss", n_bootstrap=args.bootstrap, source=str(table_path))
    document["figures"] = [str(p) for p in metric_figures(table, document["metrics"], out)]
    document["figures"].append(str(correlation_figure(document, out / "correlation.pdf")))
    (out / "correlation.json").write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
