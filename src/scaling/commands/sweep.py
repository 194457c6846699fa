"""`scaling sweep run|status|collect|cancel`: a grid of training runs from a YAML spec, resumable after any failure."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="run a grid of trainings (local or SLURM), status, collect, cancel",
                                   description=__doc__)
    parser.set_defaults(handler=run)
    commands = parser.add_subparsers(dest="sweep_command", metavar="ACTION", required=True)

    run_parser = commands.add_parser("run", help="run or resume a sweep (only cells not done are submitted)")
    run_parser.add_argument("spec", help="sweep specification (YAML); see experiments/ and docs/sweeps.md")
    run_parser.add_argument("--out", help="run folder (default: runs/<name>)")
    run_parser.add_argument("--executor", choices=("inline", "local", "slurm"), help="override the spec's executor")
    run_parser.add_argument("--max-parallel", type=int, help="local executor: cells at once (default: spec, or cores)")
    run_parser.add_argument("--wait", action="store_true", help="slurm: wait until every submitted cell has ended")
    run_parser.set_defaults(sweep_handler=run_command)

    status_parser = commands.add_parser("status", help="done / running / pending / failed, per cell")
    status_parser.add_argument("run_dir")
    status_parser.add_argument("--json", action="store_true", help="print DESIGN.md's JSON object instead of a table")
    status_parser.set_defaults(sweep_handler=status_command)

    collect_parser = commands.add_parser("collect", help="the tidy table: one row per cell (CSV or Parquet)")
    collect_parser.add_argument("run_dir")
    collect_parser.add_argument("-o", "--out", required=True, help="FILE.csv or FILE.parquet")
    collect_parser.add_argument("--no-coverage", action="store_true", help="leave the coverage column NaN (faster)")
    collect_parser.set_defaults(sweep_handler=collect_command)

    cancel_parser = commands.add_parser("cancel", help="stop the local driver and its workers, scancel SLURM jobs")
    cancel_parser.add_argument("run_dir")
    cancel_parser.set_defaults(sweep_handler=cancel_command)


def run(args: argparse.Namespace) -> int:
    return args.sweep_handler(args)


def run_command(args: argparse.Namespace) -> int:
    import sys

    from scaling.console import progress_mode
    from scaling.errors import InputError
    from scaling.sweep import load_spec, run_sweep
    from scaling.sweep.progress import sweep_progress

    spec = load_spec(args.spec)
    if args.max_parallel is not None:
        if args.max_parallel < 1:
            raise InputError(f"--max-parallel: must be >= 1, got {args.max_parallel}")
        local = spec.executor.local.model_copy(update={"max_parallel": args.max_parallel})
        spec = spec.model_copy(update={"executor": spec.executor.model_copy(update={"local": local})})
    wait = args.wait or (args.executor or spec.executor.kind) != "slurm"
    mode = progress_mode(args.quiet) if wait else "off"
    with sweep_progress(mode) as (progress, data_progress):
        report = run_sweep(spec, args.out, args.executor, wait=wait, progress=progress, data_progress=data_progress)
    if not args.quiet:
        counts = ", ".join(f"{n} {name}" for name, n in report.counts.items())
        jobs = f"; SLURM jobs {report.job_ids[0].split('_')[0]}" if report.job_ids else ""
        print(f"{report.run_dir}: {len(report.submitted)} cells submitted, {report.skipped_done} already done "
              f"({report.executor}{jobs}); now {counts}", file=sys.stderr)
    return 0 if report.counts.get("failed", 0) == 0 else 1


def status_command(args: argparse.Namespace) -> int:
    import json

    from scaling.sweep import sweep_status

    status = sweep_status(args.run_dir)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{status['sweep']}: " + ", ".join(f"{n} {k}" for k, n in status["counts"].items()))
    for column in ("cell", "status", "epochs", "reason"):
        table.add_column(column)
    for cell in status["cells"]:
        table.add_row(cell["cell_id"], cell["status"], "" if cell["epochs"] is None else str(cell["epochs"]),
                      cell["reason"] or "")
    Console(width=160).print(table)
    return 0


def collect_command(args: argparse.Namespace) -> int:
    import sys

    from scaling.errors import InputError
    from scaling.sweep import collect, write_table

    if not args.out.lower().endswith((".csv", ".parquet", ".pq")):
        raise InputError(f"-o {args.out}: output must end in .csv or .parquet")
    table = collect(args.run_dir, coverage=not args.no_coverage)
    write_table(table, args.out)
    if not args.quiet:
        done = int((table["status"] == "done").sum())
        print(f"{args.out}: {len(table)} rows ({done} done)", file=sys.stderr)
    return 0


def cancel_command(args: argparse.Namespace) -> int:
    import sys

    from scaling.sweep import cancel

    stopped = cancel(args.run_dir)
    if not args.quiet:
        print(f"{args.run_dir}: cancelled (driver pid {stopped['driver']}, SLURM jobs {stopped['slurm_jobs'] or '-'})",
              file=sys.stderr)
    return 0
