"""`scaling fit`: parse the flags, run `scaling.analysis.fit1d.fit_table`, write the JSON and figure, print the table.

The default path imports only numpy, the stdlib csv/ast modules and (on a terminal) rich's table, so a fit of a
small table takes a fraction of a second; pandas loads only for Parquet or JSON lines, lmfit only for
--optimizer lmfit, matplotlib only for --plot.
"""

from __future__ import annotations

def register(subparsers) -> None:
    from scaling.analysis.catalog import builtin_names
    from scaling.outputs import WHERE_HELP

    parser = subparsers.add_parser(
        "fit",
        help="fit a one-axis scaling law (power, power+floor, smoothly broken) per group of a results table",
        description="Fit y(x) per group. Rows sharing (group, x) are seeds: averaged; their population std is the "
        "weight with --weights seed-std. `--law broken --fix a=0 --fix f1=1` is Grossmann et al.'s form "
        "(amplitude tied, b = d1^c0); `--fix a=0` the astropy form.",
    )
    parser.add_argument("table", help="results table: CSV, Parquet (.parquet) or JSON lines (.jsonl)")
    parser.add_argument("--x", required=True, help="column of the scaling axis (e.g. train_size)")
    parser.add_argument("--y", required=True, help="column of the loss (e.g. val_loss)")
    parser.add_argument("--group", nargs="+", action="extend", default=[], metavar="COL",
                        help="fit each value (combination) of these columns separately (--group a b or --group a --group b)")
    parser.add_argument("--where", metavar="FILTER", help=WHERE_HELP)
    parser.add_argument("--law", default="broken", help=f"one of {', '.join(builtin_names(n_inputs=1))} (default broken)")
    parser.add_argument("--breaks", type=int, default=1, metavar="K", help="number of breaks of the broken law")
    parser.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE", help="fix a parameter (repeatable)")
    parser.add_argument("--space", default="log", choices=("log", "linear"), help="residuals of ln y or y (default log)")
    parser.add_argument("--weights", default="none", choices=("none", "seed-std"), help="weight points by 1/seed std")
    parser.add_argument("--loss", default="lsq", choices=("lsq", "huber"), help="least squares or Huber")
    parser.add_argument("--huber-delta", type=float, default=1e-3, metavar="D", help="Huber delta on the residuals")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="bootstrap replicates for 95%% intervals (0: none; else at least 40)")
    parser.add_argument("--bootstrap-method", default="auto", choices=("auto", "pairs"),
                        help="auto: seeds paired across x (each seed's offset resampled as one), else seeds "
                             "within each x, else pooled residuals, t-calibrated (default); "
                             "pairs: resample the points with replacement, plain percentile intervals")
    parser.add_argument("--seed-column", default="seed", metavar="COL",
                        help="column labelling each row's seed (default seed): a seed at every x of a curve shares "
                             "its initialisation and subsets across x, so the bootstrap resamples its offset once; "
                             "'' treats the seeds at each x as independent")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    parser.add_argument("--holdout-last", type=int, default=0, metavar="K", help="hold out the K largest x per group")
    parser.add_argument("--select", action="store_true", help="fit the candidate laws and rank them by AICc (BIC)")
    parser.add_argument("--select-by", default="aicc", choices=("aicc", "holdout"),
                        help="rank the --select candidates by AICc (default) or by their rolling-origin "
                             "extrapolation RMSLE (fit without the k largest x, k = 1..--holdout-folds; implies --select)")
    parser.add_argument("--holdout-folds", type=int, default=3, metavar="K",
                        help="origins of the extrapolation score (default 3)")
    parser.add_argument("--optimizer", default="lm", choices=("lm", "lmfit"),
                        help="lm: batched numpy Levenberg-Marquardt (default); lmfit: lmfit least_squares per start")
    parser.add_argument("--json", metavar="OUT", help="write the fits as JSON")
    parser.add_argument("--plot", metavar="OUT.pdf", help="draw data and fits (PDF and PNG)")
    parser.set_defaults(handler=run)


def parse_fixes(items: list[str]) -> dict[str, float]:
    from scaling.errors import InputError

    fixed = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            fixed[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--fix {item!r}: expected NAME=NUMBER, e.g. a=0") from None
    return fixed


def settings_from(args):
    """The FitSettings of the parsed flags."""
    from scaling.analysis.fit1d import FitSettings

    return FitSettings(law=args.law, breaks=args.breaks, fixed=parse_fixes(args.fix), space=args.space,
                       weights=args.weights, loss=args.loss, huber_delta=args.huber_delta, bootstrap=args.bootstrap,
                       bootstrap_method=args.bootstrap_method, seed_column=args.seed_column, seed=args.seed,
                       holdout_last=args.holdout_last,
                       select=args.select or args.select_by == "holdout", select_by=args.select_by,
                       holdout_folds=args.holdout_folds, optimizer=args.optimizer)


def _single_threaded_blas() -> None:
    """Fits solve many tiny systems, where BLAS threads only cost start-up (about 60 ms of thread creation on a
    busy 2-core machine); ask OpenBLAS for one thread unless the user set it or numpy is already loaded."""
    import os
    import sys

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def run(args) -> int:
    _single_threaded_blas()
    from scaling.analysis.fit1d import fit_table
    from scaling.console import show_live_progress
    from scaling.outputs import check_figure_path, check_output, report_left_out, with_progress

    settings = settings_from(args)
    check_output(args.json, "--json")
    check_figure_path(args.plot, "--plot")
    if args.bootstrap and show_live_progress(args.quiet):
        document = with_progress("bootstrap", lambda progress: fit_table(
            args.table, args.x, args.y, args.group, args.where, settings, progress))
    else:
        document = fit_table(args.table, args.x, args.y, args.group, args.where, settings)
    if args.json:
        from scaling.atomic import atomic_write_json

        atomic_write_json(args.json, document)
    if args.plot:
        from scaling.outputs import use_file_backend

        use_file_backend()
        from scaling.plot.data import as_frame
        from scaling.plot.figures import plot_fit1d

        best = {}  # with --select, the top-ranked law of each group
        for entry in document["fits"]:
            best.setdefault(repr(entry["group"]), entry)
        frame = as_frame(document["table"], args.where, status_filter=True)
        plot_fit1d(frame, {**document, "fits": list(best.values())}, args.plot, x=args.x, y=args.y, group=args.group)
    report_left_out(document, args)
    _print_table(document, args)
    return 0


def interval(lo, hi, digits: int = 3) -> str:
    """A 95% interval as [lo, hi]."""
    return f"[{_fmt(lo, digits)}, {_fmt(hi, digits)}]"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "?" if value is None else f"{value:.{digits}g}" if abs(value) >= 1e4 or abs(value) < 1e-3 else f"{value:.{digits}f}"


def _table_rows(document: dict, args) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary: group, law, exponents [95% CI], breaks [95% CI], AICc, BIC, RMSLE (and the
    hold-out RMSLE, the extrapolation score of --select, the parameters the data do not identify)."""
    header = [", ".join(args.group) or "group", "law", "exponents [95% CI]", "breaks [95% CI]", "AICc", "BIC", "RMSLE"]
    fits = document["fits"]
    scores = any(entry.get("holdout_score") is not None for entry in fits)
    if args.holdout_last:
        header.append(f"holdout RMSLE (last {args.holdout_last})")
    if scores:
        header.append("extrapolation RMSLE (origins)")
    header.append("unidentified")
    rows = []
    for record in fits:
        exponents = []
        for i, e in enumerate(record["exponents"]):
            text = _fmt(e)
            if record.get("exponents_ci95"):
                text += " " + interval(*record["exponents_ci95"][i])
            exponents.append(text)
        breaks = [f"{_fmt(b)} {interval(lo, hi)}" for b, (lo, hi) in zip(record["breaks"], record["breaks_ci95"])]
        label = ", ".join(str(v) for v in record["group"].values()) or "all rows"
        fixed = ", ".join(f"{k}={v:g}" for k, v in record["fixed"].items())
        law = f"{record['law']} ({fixed})" if fixed else record["law"]
        row = [label, law, " -> ".join(exponents), "; ".join(breaks) or "-",
               _fmt(record["aicc"], 2) if record["aicc"] is not None else "-",
               _fmt(record["bic"], 2) if record["bic"] is not None else "-",
               "-" if record["rmsle"] is None else f"{record['rmsle']:.2e}"]
        if args.holdout_last:
            row.append("-" if record["holdout_rmsle"] is None else f"{record['holdout_rmsle']:.2e}")
        if scores:
            row.append("-" if record.get("holdout_score") is None
                       else f"{record['holdout_score']:.2e} ({record['holdout_origins']})")
        row.append(", ".join(record["unidentified"]) or "-")
        rows.append(row)
    return header, rows


def _print_table(document, args) -> None:
    """A rich table on a terminal; plain aligned text when stdout is a pipe or file (and rich is not imported)."""
    import sys

    header, rows = _table_rows(document, args)
    title = f"scaling fit: {args.y} vs {args.x}"
    if not sys.stdout.isatty():
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [title] + ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *rows]]
        print("\n".join(lines))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 2 else "right", overflow="fold")
    for row in rows:
        row[2] = row[2].replace(" -> ", "\n")
        row[3] = row[3].replace("; ", "\n")
        table.add_row(*row)
    Console().print(table)
