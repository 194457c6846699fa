"""`scaling demo`: the embedded default end to end, on a laptop CPU.

EMT-labelled alloy pool -> graph store -> the 2D sweep of experiments/demo.yaml with the local executor ->
the tidy table -> broken power laws in D per (arch, N) (`scaling fit --law broken+amplitude`), a 2D surface
L(N, D) per arch (`scaling fit2d`) and the light use-case suite on the largest cell (`scaling evaluate --suite
emt-light`) -> table, fit JSON, use-case metrics and figures in OUT (default ./scaling-demo/, git-ignored).
Running it again resumes: finished cells are not trained again. The committed reference outputs in results/demo/
are regenerated with `scaling demo --out results/demo`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SPEC = "experiments/demo.yaml"
DEFAULT_OUT = "scaling-demo"


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="EMT data, a 2D sweep, broken-law and 2D fits, figures (CPU)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"output folder (default: ./{DEFAULT_OUT}/); the run folder with checkpoints goes to "
                             "OUT/.work/run. `--out results/demo` regenerates the committed reference outputs")
    parser.add_argument("--spec", default=None, help=f"sweep spec (default: the packaged {DEFAULT_SPEC})")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates per fit (default 200)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    import logging
    import os
    import sys
    import time

    from scaling.atomic import atomic_write_json
    from scaling.sweep import collect, load_spec, write_table

    def say(message: str) -> None:
        if not args.quiet:
            print(f"scaling demo: {message}", file=sys.stderr, flush=True)

    out = Path(args.out)
    _check_options(args)  # every option before any work: a bad flag must not cost a trained sweep
    spec = load_spec(args.spec or _packaged_spec())
    start = time.time()
    say(f"writing to {out.resolve()}/")
    say(f"sweep {spec.name}: {len(spec.cells())} cells ({len(spec.axes.arch)} architectures x "
        f"{len(spec.axes.params)} sizes N x {len(spec.axes.train_size)} sizes D x {len(spec.axes.seed)} seeds); "
        f"run folder {out / '.work' / 'run'}")
    report = _run(args, spec, out / ".work" / "run", say)
    sweep_seconds = time.time() - start
    say(f"sweep finished in {sweep_seconds / 60:.1f} min: {report.counts}")

    table_path = out / "results.csv"
    table = collect(report.run_dir)
    write_table(table, table_path)
    say(f"table: {table_path} ({len(table)} rows)")

    failed = []
    for name, step in _analysis_steps(table_path, out, args.bootstrap):
        say(f"{name} -> {', '.join(p.name for p in step.outputs)}")
        try:
            step.run()
        except Exception as error:  # one failed analysis step must not lose the others' outputs
            logging.getLogger(__name__).error("%s failed: %s: %s", name, type(error).__name__, error)
            failed.append(name)
    regimes = regime_sentences(out)
    for sentence in regimes:
        say(sentence)
    atomic_write_json(out / "demo.json", {
        "spec": spec.model_dump(mode="json"), "cells": len(table), "counts": report.counts,
        "sweep_seconds": round(sweep_seconds, 1), "total_seconds": round(time.time() - start, 1),
        "cpu_seconds": round(_cpu_seconds(), 1), "cores": os.cpu_count(),
        "outputs": sorted(p.name for p in out.iterdir() if p.is_file() and p.name != "demo.json"),
        "failed_steps": failed, "regimes": regimes,
    })
    say(f"done in {(time.time() - start) / 60:.1f} min; outputs in {out.resolve()}/ "
        f"({json.dumps(failed) + ' failed' if failed else 'all fits written'})")
    if report.not_done:
        say(report.summary_of_not_done())
    return 1 if failed or report.counts.get("failed") or report.not_done else 0


class _Step:
    """One analysis step of the demo: a Python call and the files it writes."""

    def __init__(self, run, outputs):
        self.run, self.outputs = run, outputs


def _analysis_steps(table_path, out, bootstrap: int) -> list[tuple[str, _Step]]:
    """The demo's analysis as library calls (the same functions `scaling fit`, `fit2d` and `evaluate` call):
    broken power laws in D per N (Grossmann's form with a free amplitude), the same curves ranked by AICc, the 2D
    surface, and the light use-case suite on the largest trained cell."""
    from scaling.analysis.fit1d import FitSettings
    from scaling.analysis.fit2d import Fit2DSettings

    done, group = "status == 'done'", ["arch", "n_params"]
    fixed = {"a": 0.0, "f1": 1.0}
    broken = FitSettings(law="broken+amplitude", fixed=fixed, bootstrap=bootstrap)
    select = FitSettings(law="broken+amplitude", fixed=fixed, select=True)
    surface = Fit2DSettings(law="hoffmann-broken", bootstrap=bootstrap)
    return [
        ("fit: broken power law in D per (arch, N)",
         _Step(lambda: _fit1d(table_path, group, done, broken, out / "fit_data.json", out / "fit_data.pdf"),
               [out / "fit_data.json", out / "fit_data.pdf"])),
        ("fit: laws ranked by AICc",
         _Step(lambda: _fit1d(table_path, group, done, select, out / "fit_select.json", None),
               [out / "fit_select.json"])),
        ("fit2d: L(N, D) per arch",
         _Step(lambda: _fit2d(table_path, done, surface, out / "fit2d.json", out / "fit2d.pdf"),
               [out / "fit2d.json", out / "fit2d.pdf"])),
        ("evaluate: light use-case suite on the largest cell",
         _Step(lambda: _evaluate_largest(table_path, out / "usecase.json"), [out / "usecase.json"])),
    ]


def _fit1d(table_path, group, where, settings, json_path, plot_path) -> None:
    from scaling.analysis.fit1d import fit_table
    from scaling.atomic import atomic_write_json

    document = fit_table(str(table_path), "train_size", "val_loss", group, where, settings)
    atomic_write_json(json_path, document)
    if plot_path is not None:
        from scaling.outputs import use_file_backend

        use_file_backend()
        from scaling.plot.data import as_frame
        from scaling.plot.figures import plot_fit1d

        plot_fit1d(as_frame(str(table_path), where, status_filter=True), document, plot_path, x="train_size",
                   y="val_loss", group=group)


def _fit2d(table_path, where, settings, json_path, plot_path) -> None:
    from scaling.analysis.fit2d import fit2d_table
    from scaling.atomic import atomic_write_json

    document = fit2d_table(str(table_path), "n_params", "train_size", "val_loss", ["arch"], where, settings)
    atomic_write_json(json_path, document)
    from scaling.outputs import use_file_backend

    use_file_backend()
    from scaling.plot.figures import plot_fit2d_all

    plot_fit2d_all(document, plot_path)


def _evaluate_largest(table_path, json_path) -> None:
    """`scaling evaluate CELL --suite emt-light` on the done cell with the most parameters and data."""
    import pandas as pd

    from scaling.atomic import atomic_write_json
    from scaling.evaluate.models import resolve_model
    from scaling.evaluate.runner import run_suite
    from scaling.evaluate.suite import light_suite

    table = pd.read_csv(table_path)
    done = table[table["status"] == "done"].sort_values(["n_params", "train_size", "seed"])
    cell = done.iloc[-1]
    cell_dir = Path(table_path).parent / ".work" / "run" / "cells" / cell["cell_id"]
    document = run_suite(resolve_model(str(cell_dir), None), light_suite())
    atomic_write_json(json_path, {"cell_id": cell["cell_id"], "n_params": int(cell["n_params"]),
                                  "train_size": int(cell["train_size"]), **document})


def regime_sentences(out: Path) -> list[str]:
    """What the fits say about regimes, in words: per D-curve its regimes when the break is resolved (else that it
    is not), and per N the 2D surface's crossover D_x(N) where resolved inside the data."""
    import json

    import pandas as pd

    from scaling.analysis.regimes import describe_breaks, describe_crossover
    from scaling.plot.data import group_label

    sentences = []
    path = out / "fit_data.json"
    if path.is_file():
        table = pd.read_csv(out / "results.csv")
        table = table[table["status"] == "done"]
        for entry in json.loads(path.read_text())["fits"]:
            rows = table
            for key, value in entry["group"].items():
                rows = rows[rows[key].astype(str) == str(value)]
            words = describe_breaks(entry, rows["train_size"].to_numpy(float), "train_size")
            sentences.append(f"{group_label(entry['group'])}: "
                             f"{words or 'break not resolved (its 95% band leaves < 2 points of D on a side)'}")
    path = out / "fit2d.json"
    if path.is_file():
        for entry in json.loads(path.read_text())["fits"]:
            crossings = describe_crossover(entry)
            label = group_label(entry["group"]) or "surface"
            if crossings:
                sentences += [f"{label} 2D crossover {c}" for c in crossings]
            else:
                reason = (entry.get("withheld") or {}).get("crossover") or "its band leaves < 2 points of D on a side"
                sentences.append(f"{label} 2D crossover D_x(N): not resolved inside the data ({reason})")
    return sentences


def _check_options(args) -> None:
    """Refuse a bad --bootstrap or --out at once, with one line naming the flag and value."""
    import os

    from scaling.analysis.uncertainty import check_replicates
    from scaling.errors import InputError

    check_replicates(args.bootstrap)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    parent = next(p for p in (out, *out.parents) if p.exists() or p == Path(p.anchor))
    if not parent.is_dir():
        raise InputError(f"--out {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: {parent} is not writable")


def _run(args, spec, run_dir, say):
    from scaling.console import progress_mode
    from scaling.sweep import run_sweep
    from scaling.sweep.progress import sweep_progress

    with sweep_progress(progress_mode(args.quiet), prefix="scaling demo") as (progress, data_progress):
        # the plan is saved as RUN_DIR/plan.json: benchmarks/bench_planner.py --run-dir compares it with the cells
        return run_sweep(spec, run_dir, wait=True, progress=progress, data_progress=data_progress, announce=say)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the sweep's workers): the demo's cost on any machine."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _packaged_spec():
    """experiments/demo.yaml of this checkout (the demo is run from a clone, as the README says)."""
    import scaling

    candidates = [Path(DEFAULT_SPEC), Path(scaling.__file__).resolve().parents[2] / DEFAULT_SPEC]
    for path in candidates:
        if path.is_file():
            return path
    from scaling.errors import InputError

    raise InputError(f"{DEFAULT_SPEC}: not found (run from the repository root, or pass --spec)")
