"""`scaling demo`: the embedded default end to end, on a laptop CPU.

EMT-labelled alloy pool -> graph store -> the 2D sweep of experiments/demo.yaml with the local executor ->
the tidy table -> broken power laws in D per (arch, N) (`scaling fit --law broken+amplitude`) and a 2D surface
L(N, D) per arch (`scaling fit2d`) -> table, fit JSON and figures in OUT (default ./scaling-demo/, git-ignored).
Running it again resumes: finished cells are not trained again. The committed reference outputs in results/demo/
are regenerated with `scaling demo --out results/demo`.
"""

from __future__ import annotations

import argparse

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
    from pathlib import Path

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
    report = _run(args, spec, out / ".work" / "run")
    sweep_seconds = time.time() - start
    say(f"sweep finished in {sweep_seconds / 60:.1f} min: {report.counts}")

    table_path = out / "results.csv"
    table = collect(report.run_dir)
    write_table(table, table_path)
    say(f"table: {table_path} ({len(table)} rows)")

    from scaling.cli import main as scaling_main

    quiet = ["-q"] if args.quiet else []
    done = "status == 'done'"
    fits = [
        ["fit", str(table_path), "--x", "train_size", "--y", "val_loss", "--group", "arch", "--group",
         "n_params", "--where", done, "--law", "broken+amplitude", "--fix", "a=0", "--fix", "f1=1",
         "--bootstrap", str(args.bootstrap), "--json", str(out / "fit_data.json"), "--plot", str(out / "fit_data.pdf")],
        ["fit", str(table_path), "--x", "train_size", "--y", "val_loss", "--group", "arch", "--group",
         "n_params", "--where", done, "--select", "--fix", "a=0", "--fix", "f1=1", "--json", str(out / "fit_select.json")],
        ["fit2d", str(table_path), "--n", "n_params", "--d", "train_size", "--y", "val_loss", "--group", "arch",
         "--where", done, "--law", "hoffmann-broken", "--bootstrap", str(args.bootstrap),
         "--json", str(out / "fit2d.json"), "--plot", str(out / "fit2d.pdf")],
    ]
    failed = []
    for argv in fits:
        say(" ".join(["scaling", *argv[:1], "..."] + [a for a in argv if a.endswith((".json", ".pdf"))]))
        try:
            code = scaling_main([*quiet, *argv])
        except Exception as error:  # a bug in one analysis step must not lose the others' outputs
            logging.getLogger(__name__).error("%s failed: %s: %s", argv[0], type(error).__name__, error)
            code = 1
        if code != 0:
            failed.append(" ".join(a for a in argv if a.endswith((".json", ".pdf"))))
    atomic_write_json(out / "demo.json", {
        "spec": spec.model_dump(mode="json"), "cells": len(table), "counts": report.counts,
        "sweep_seconds": round(sweep_seconds, 1), "total_seconds": round(time.time() - start, 1),
        "cpu_seconds": round(_cpu_seconds(), 1), "cores": os.cpu_count(),
        "outputs": sorted(p.name for p in out.iterdir() if p.is_file() and p.name != "demo.json"),
        "failed_steps": failed,
    })
    say(f"done in {(time.time() - start) / 60:.1f} min; outputs in {out.resolve()}/ "
        f"({json.dumps(failed) + ' failed' if failed else 'all fits written'})")
    if report.not_done:
        say(report.summary_of_not_done())
    return 1 if failed or report.counts.get("failed") or report.not_done else 0


def _check_options(args) -> None:
    """Refuse a bad --bootstrap or --out at once, with one line naming the flag and value."""
    import os
    from pathlib import Path

    from scaling.errors import InputError

    if args.bootstrap < 0:
        raise InputError(f"--bootstrap {args.bootstrap}: must be >= 0 (0: no intervals)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    parent = next(p for p in (out, *out.parents) if p.exists() or p == Path(p.anchor))
    if not parent.is_dir():
        raise InputError(f"--out {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: {parent} is not writable")


def _run(args, spec, run_dir):
    from scaling.console import progress_mode
    from scaling.sweep import run_sweep
    from scaling.sweep.progress import sweep_progress

    with sweep_progress(progress_mode(args.quiet), prefix="scaling demo") as (progress, data_progress):
        return run_sweep(spec, run_dir, wait=True, progress=progress, data_progress=data_progress)


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
    from pathlib import Path

    import scaling

    candidates = [Path(DEFAULT_SPEC), Path(scaling.__file__).resolve().parents[2] / DEFAULT_SPEC]
    for path in candidates:
        if path.is_file():
            return path
    from scaling.errors import InputError

    raise InputError(f"{DEFAULT_SPEC}: not found (run from the repository root, or pass --spec)")
