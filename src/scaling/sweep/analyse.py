"""The analysis after a sweep (spec `analysis:`): the tidy table, a one-axis fit with its figure, an optional
two-axis fit, written to RUN_DIR/analysis/ with analysis.json saying what was made.

The same function runs after a local sweep, in the SLURM job that follows a SLURM sweep
(scaling.sweep.analysis_job), and by hand (`scaling sweep analyse RUN_DIR`). One failed step does not lose the
others' outputs; analysis.json lists the failed ones with their reasons.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from scaling.atomic import atomic_write_json
from scaling.sweep.runfolder import RunFolder

log = logging.getLogger(__name__)

ANALYSIS_DIR = "analysis"
ANALYSIS_FILE = "analysis.json"
DONE_ROWS = "status == 'done'"


def analysis_dir(run_dir: str | os.PathLike) -> Path:
    return RunFolder(run_dir).path / ANALYSIS_DIR


def run_analysis(run_dir: str | os.PathLike, job_id: str | None = None) -> dict:
    """Collect, fit and draw as the frozen spec's `analysis:` section says; returns analysis.json's content."""
    from scaling.sweep.collect import collect, write_table
    from scaling.sweep.spec import AnalysisSpec

    folder = RunFolder(run_dir)
    settings = folder.load_spec().analysis or AnalysisSpec()
    out = analysis_dir(folder.path)
    out.mkdir(exist_ok=True)
    table_path = out / "results.csv"
    table = collect(folder.path)
    write_table(table, table_path)
    steps = [("fit", lambda: _fit1d(table_path, settings, out))]
    if settings.fit2d is not None:
        steps.append(("fit2d", lambda: _fit2d(table_path, settings, out)))
    failed = {}
    for name, step in steps:
        try:
            step()
        except Exception as error:  # one failed step must not lose the others' outputs
            log.error("analysis step %s failed: %s: %s", name, type(error).__name__, error)
            failed[name] = f"{type(error).__name__}: {error}"[:500]
    counts = table["status"].value_counts().to_dict() if len(table) else {}
    record = {"status": "failed" if failed else "done", "finished_at": time.time(), "job_id": job_id,
              "rows": len(table), "counts": {str(k): int(v) for k, v in counts.items()},
              "outputs": sorted(p.name for p in out.iterdir() if p.is_file() and p.name != ANALYSIS_FILE),
              "failed_steps": failed}
    atomic_write_json(out / ANALYSIS_FILE, record)
    log.info("analysis of %s: %s", folder.path, record["status"])
    return record


def _fit1d(table_path: Path, settings, out: Path) -> None:
    from scaling.analysis.fit1d import FitSettings, fit_table
    from scaling.outputs import use_file_backend

    group = list(settings.group)
    document = fit_table(str(table_path), settings.x, settings.y, group, DONE_ROWS,
                         FitSettings(law=settings.law, bootstrap=settings.bootstrap))
    atomic_write_json(out / "fit.json", document)
    use_file_backend()
    from scaling.plot.data import as_frame
    from scaling.plot.figures import plot_fit1d

    plot_fit1d(as_frame(str(table_path), DONE_ROWS, status_filter=True), document, out / "fit.pdf", x=settings.x,
               y=settings.y, group=group)


def _fit2d(table_path: Path, settings, out: Path) -> None:
    from scaling.analysis.fit2d import Fit2DSettings, fit2d_table
    from scaling.outputs import use_file_backend

    document = fit2d_table(str(table_path), "n_params", "train_size", settings.y, ["arch"], DONE_ROWS,
                           Fit2DSettings(law=settings.fit2d, bootstrap=settings.bootstrap))
    atomic_write_json(out / "fit2d.json", document)
    use_file_backend()
    from scaling.plot.figures import plot_fit2d_all

    plot_fit2d_all(document, out / "fit2d.pdf")
