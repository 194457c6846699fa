"""`scaling sweep run|status|collect|cancel|prune`: a grid of training runs from a YAML spec, resumable after any
failure (docs/sweeps.md)."""

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

    plan_parser = commands.add_parser("plan", help="cells, parameters, steps, FLOPs, time and memory before training")
    plan_parser.add_argument("spec", help="sweep specification (YAML)")
    plan_parser.add_argument("--out", help="run folder whose store and done cells to use (default: runs/<name>)")
    plan_parser.add_argument("--executor", choices=("inline", "local", "slurm"), help="override the spec's executor")
    plan_parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan_parser.set_defaults(sweep_handler=plan_command)

    status_parser = commands.add_parser("status", help="done / running / pending / failed, per cell")
    status_parser.add_argument("run_dir")
    status_parser.add_argument("--json", action="store_true",
                               help="print the JSON object described in docs/sweeps.md instead of a table")
    status_parser.set_defaults(sweep_handler=status_command)

    collect_parser = commands.add_parser("collect", help="the tidy table: one row per cell (CSV or Parquet)")
    collect_parser.add_argument("run_dir")
    collect_parser.add_argument("-o", "--out", required=True, help="FILE.csv or FILE.parquet")
    collect_parser.add_argument("--no-coverage", action="store_true", help="leave the coverage column NaN (faster)")
    collect_parser.set_defaults(sweep_handler=collect_command)

    cancel_parser = commands.add_parser("cancel", help="stop the local driver and its workers, scancel SLURM jobs")
    cancel_parser.add_argument("run_dir")
    cancel_parser.set_defaults(sweep_handler=cancel_command)

    analyse_parser = commands.add_parser("analyse", help="collect, fit and draw as the spec's `analysis:` says "
                                         "(RUN_DIR/analysis/); SLURM sweeps do it in a dependent job")
    analyse_parser.add_argument("run_dir")
    analyse_parser.set_defaults(sweep_handler=analyse_command)

    prune_parser = commands.add_parser("prune", help="retire cells whose axis values left the spec (kept on disk)")
    prune_parser.add_argument("run_dir")
    prune_parser.add_argument("spec", help="the sweep spec whose axis values the run folder should keep")
    prune_parser.set_defaults(sweep_handler=prune_command)


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
    # The plan is made and saved as RUN_DIR/plan.json either way; its summary line is printed unless --quiet.
    announce = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    mode = progress_mode(args.quiet) if wait else "off"
    with sweep_progress(mode) as (progress, data_progress):
        report = run_sweep(spec, args.out, args.executor, wait=wait, progress=progress, data_progress=data_progress,
                           spec_source=args.spec, announce=announce)
    if not args.quiet:
        counts = ", ".join(f"{n} {name}" for name, n in report.counts.items())
        jobs = f"; SLURM jobs {report.job_ids[0].split('_')[0]}" if report.job_ids else ""
        jobs += f", analysis job {report.analysis_job}" if report.analysis_job else ""
        print(f"{report.run_dir}: {len(report.submitted)} cells submitted, {report.skipped_done} already done "
              f"({report.executor}{jobs}); now {counts}", file=sys.stderr)
    not_done = report.summary_of_not_done()
    if not_done:
        print(f"scaling sweep run: {not_done}", file=sys.stderr)
    return 1 if not_done or report.counts.get("failed", 0) else 0


def plan_command(args: argparse.Namespace) -> int:
    import json

    from scaling.sweep import load_spec
    from scaling.sweep.plan import format_seconds, plan_sweep, summary_line

    plan = plan_sweep(load_spec(args.spec), args.executor, args.out)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{plan.sweep}: probed on {plan.data}")
    for column in ("cell", "status", "N", "width x depth", "steps", "FLOPs", "time", "memory MB"):
        table.add_column(column, justify="left" if column in ("cell", "status") else "right")
    for cell in plan.cells:
        shape = f"{cell.width} x {cell.depth}" if cell.width else ""
        memory = f"{cell.peak_rss_mb:.0f}" + (f" (GPU {cell.peak_cuda_mb:.0f})" if cell.peak_cuda_mb else "")
        todo = cell.status == "todo"
        table.add_row(cell.cell_id, cell.status, str(cell.n_params or cell.params_target), shape,
                      str(cell.steps) if todo else "", f"{cell.train_flops:.3g}" if todo else "",
                      format_seconds(cell.train_seconds + cell.test_seconds) if todo else "",
                      memory if todo else "")
    console = Console(width=160)
    console.print(table)
    console.print(summary_line(plan), highlight=False)
    for warning in plan.warnings:
        console.print(f"warning: {warning}", highlight=False)
    return 0


def analyse_command(args: argparse.Namespace) -> int:
    import sys

    from scaling.sweep.analyse import analysis_dir, run_analysis

    record = run_analysis(args.run_dir)
    if not args.quiet:
        failed = "; ".join(f"{name}: {why}" for name, why in record["failed_steps"].items())
        print(f"{analysis_dir(args.run_dir)}: {', '.join(record['outputs'])}" + (f"; failed {failed}" if failed else ""),
              file=sys.stderr)
    return 1 if record["failed_steps"] else 0


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


def prune_command(args: argparse.Namespace) -> int:
    import sys

    from scaling.sweep import RunFolder, load_spec

    retired = RunFolder(args.run_dir).prune(load_spec(args.spec))
    if not args.quiet:
        listed = f": {', '.join(retired)}" if retired else ""
        print(f"{args.run_dir}: {len(retired)} cells retired (kept under cells/, listed in retired.json){listed}",
              file=sys.stderr)
    return 0


def cancel_command(args: argparse.Namespace) -> int:
    import sys

    from scaling.sweep import cancel

    stopped = cancel(args.run_dir)
    if not args.quiet:
        print(f"{args.run_dir}: cancelled (driver pid {stopped['driver']}, SLURM jobs {stopped['slurm_jobs'] or '-'})",
              file=sys.stderr)
    return 0
