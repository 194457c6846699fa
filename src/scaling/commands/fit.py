"""`scaling fit`: fit a one-axis scaling law per group of a results table (DESIGN.md contract).

The default path imports only numpy, the stdlib csv module and (on a terminal) rich's table, so a fit of a small
table takes a fraction of a second; pandas loads only for --where, Parquet or JSON lines, lmfit only for
--optimizer lmfit, matplotlib only for --plot.
"""

from __future__ import annotations

LAWS = ("power", "power+floor", "broken", "broken+amplitude")


def register(subparsers) -> None:
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
    parser.add_argument("--group", action="append", default=[], metavar="COL", help="fit each value separately (repeatable)")
    parser.add_argument("--where", help='pandas query selecting rows, e.g. "arch == \'twobody\'"')
    parser.add_argument("--law", default="broken", help=f"one of {', '.join(LAWS)} (default broken)")
    parser.add_argument("--breaks", type=int, default=1, metavar="K", help="number of breaks of the broken law")
    parser.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE", help="fix a parameter (repeatable)")
    parser.add_argument("--space", default="log", choices=("log", "linear"), help="residuals of ln y or y (default log)")
    parser.add_argument("--weights", default="none", choices=("none", "seed-std"), help="weight points by 1/seed std")
    parser.add_argument("--loss", default="lsq", choices=("lsq", "huber"), help="least squares or Huber")
    parser.add_argument("--huber-delta", type=float, default=1e-3, metavar="D", help="Huber delta on the residuals")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap replicates for 95%% intervals")
    parser.add_argument("--bootstrap-method", default="auto", choices=("auto", "pairs"),
                        help="auto: seeds within each x, else pooled residuals, t-calibrated (default); "
                             "pairs: resample the points with replacement, plain percentile intervals")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    parser.add_argument("--holdout-last", type=int, default=0, metavar="K", help="hold out the K largest x per group")
    parser.add_argument("--select", action="store_true", help="fit the candidate laws and rank them by AICc (BIC)")
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


def _validate_args(args) -> None:
    from scaling.errors import InputError

    if args.law not in LAWS:
        raise InputError(f"--law {args.law!r}: unknown law (known: {', '.join(LAWS)})")
    for flag, value, minimum in (("--breaks", args.breaks, 1), ("--bootstrap", args.bootstrap, 0),
                                 ("--holdout-last", args.holdout_last, 0)):
        if value < minimum:
            raise InputError(f"{flag} must be >= {minimum}, got {value}")
    if not args.huber_delta > 0:
        raise InputError(f"--huber-delta must be positive, got {args.huber_delta}")


def _progress_enabled(args) -> bool:
    import os
    import sys

    return not args.quiet and not os.environ.get("CI") and sys.stderr.isatty()


def _single_threaded_blas() -> None:
    """Fits solve many tiny systems, where BLAS threads only cost start-up (about 60 ms of thread creation on a
    busy 2-core machine); ask OpenBLAS for one thread unless the user set it or numpy is already loaded."""
    import os
    import sys

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def run(args) -> int:
    _single_threaded_blas()
    import numpy as np

    from scaling.analysis.fitting import fit
    from scaling.analysis.report import fit_record, rmsle
    from scaling.analysis.selection import build_law, candidate_laws, rank_key
    from scaling.analysis.table import curves, read_table
    from scaling.analysis.uncertainty import bootstrap
    from scaling.errors import InputError

    _validate_args(args)
    fixed = parse_fixes(args.fix)
    table = read_table(args.table, args.where)
    groups = curves(table, args.x, args.y, args.group)

    jobs = []  # (curve used for fitting, held-out curve, law, fixed values, sigma)
    for curve in groups:
        fitted, held, sigma = _prepare(curve, args, table.path)
        laws = candidate_laws(args.breaks, fixed) if args.select else [(build_law(args.law, args.breaks, fixed), fixed)]
        jobs += [(fitted, held, law, law_fixed, sigma) for law, law_fixed in laws]

    results = []
    for fitted, held, law, law_fixed, sigma in jobs:
        try:
            result = fit(law, fitted.x, fitted.y, sigma=sigma, space=args.space, loss=args.loss,
                         huber_delta=args.huber_delta, fixed=law_fixed, optimizer=args.optimizer)
        except InputError as error:
            raise InputError(f"{table.path}: {fitted.label}: {error}") from None
        results.append(result)

    boots = [None] * len(jobs)
    if args.bootstrap:
        boots = _run_bootstraps(args, jobs, results, bootstrap)

    records = []
    for (fitted, held, _, _, _), result, boot in zip(jobs, results, boots):
        holdout = rmsle(result, held.x, held.y) if len(held.x) else None
        records.append((fitted, result, boot, fit_record(fitted, result, boot, holdout)))
    if args.select:
        order = {}
        for i, (fitted, _, _, record) in enumerate(records):
            order.setdefault(fitted.label, []).append(i)
        records = [records[i] for idx in order.values()
                   for i in sorted(idx, key=lambda i: rank_key(records[i][3]["aicc"], records[i][3]["bic"]))]

    document = {"fits": [record for *_, record in records]}
    if args.json:
        import json

        from scaling.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(document, indent=2, allow_nan=False) + "\n")
    if args.plot:
        from scaling.plot.figures import plot_fit1d

        best = {}  # with --select, the top-ranked law of each group
        for entry in document["fits"]:
            best.setdefault(repr(entry["group"]), entry)
        plot_fit1d(table, {"fits": list(best.values())}, args.plot, x=args.x, y=args.y, group=args.group)
    _print_table(records, args)
    return 0


def _prepare(curve, args, path):
    """Check one group's points and split off the held-out ones: (fitted curve, held-out curve, sigma or None)."""
    import numpy as np

    from scaling.errors import InputError

    where = f"{path}: {curve.label}"
    if len(curve.x) < 2:
        raise InputError(f"{where}: a single {args.x} value ({curve.x[0]:g}); a law needs several")
    if args.space == "log" and np.any(curve.y <= 0):
        raise InputError(f"{where}: {args.y} = {float(np.min(curve.y)):g} is not positive (--space log)")
    if np.any(curve.x <= 0):
        raise InputError(f"{where}: {args.x} = {float(np.min(curve.x)):g} is not positive")
    keep = np.ones(len(curve.x), dtype=bool)
    if args.holdout_last:
        if args.holdout_last >= len(curve.x):
            raise InputError(f"{where}: --holdout-last {args.holdout_last} leaves no points to fit "
                             f"({len(curve.x)} {args.x} values)")
        keep[-args.holdout_last:] = False
    fitted, held = curve.subset(keep), curve.subset(~keep)
    if args.weights != "seed-std":
        return fitted, held, None
    bad = np.flatnonzero((fitted.n_seeds < 2) | (fitted.y_std <= 0))
    if bad.size:
        i = bad[0]
        raise InputError(f"{where}: --weights seed-std needs >= 2 seeds with spread at every {args.x}; "
                         f"{args.x}={fitted.x[i]:g} has {fitted.n_seeds[i]} seed(s), std {fitted.y_std[i]:g}")
    return fitted, held, fitted.y_std


def _run_bootstraps(args, jobs, results, bootstrap):
    total = len(jobs) * args.bootstrap
    if not _progress_enabled(args):
        return [bootstrap(r, c, n_boot=args.bootstrap, seed=args.seed, sigma=s, method=args.bootstrap_method)
                for (c, _, _, _, s), r in zip(jobs, results)]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    boots = []
    columns = (TextColumn("bootstrap"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("bootstrap", total=total)
        for (curve, _, _, _, sigma), result in zip(jobs, results):
            boots.append(bootstrap(result, curve, n_boot=args.bootstrap, seed=args.seed, sigma=sigma,
                                   progress=lambda n: progress.advance(task, n), method=args.bootstrap_method))
    return boots


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}" if abs(value) >= 1e4 or abs(value) < 1e-3 else f"{value:.{digits}f}"


def _table_rows(records, args) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary: group, law, exponents (95% CI), breaks [95% CI], AICc, BIC, RMSLE."""
    header = [", ".join(args.group) or "group", "law", "exponents (95% CI)", "breaks [95% CI]", "AICc", "BIC", "RMSLE"]
    if args.holdout_last:
        header.append(f"holdout RMSLE (last {args.holdout_last})")
    rows = []
    for curve, result, boot, record in records:
        exponents = []
        for i, e in enumerate(result.exponents):
            text = f"{e:.3f}"
            if boot is not None:
                lo, hi = boot.exponents_ci95[i]
                text += f" ({lo:.3f}-{hi:.3f})"
            exponents.append(text)
        breaks = [f"{_fmt(b)} [{_fmt(lo)}, {_fmt(hi)}]" for b, (lo, hi) in zip(record["breaks"], record["breaks_ci95"])]
        label = ", ".join(str(v) for v in curve.group.values()) or "all rows"
        fixed = ", ".join(f"{k}={v:g}" for k, v in record["fixed"].items())
        law = f"{record['law']} ({fixed})" if fixed else record["law"]
        row = [label, law, " -> ".join(exponents), "; ".join(breaks) or "-",
               _fmt(record["aicc"], 2) if record["aicc"] is not None else "-",
               _fmt(record["bic"], 2) if record["bic"] is not None else "-",
               "-" if record["rmsle"] is None else f"{record['rmsle']:.2e}"]
        if args.holdout_last:
            row.append("-" if record["holdout_rmsle"] is None else f"{record['holdout_rmsle']:.2e}")
        rows.append(row)
    return header, rows


def _print_table(records, args) -> None:
    """A rich table on a terminal; plain aligned text when stdout is a pipe or file (and rich is not imported)."""
    import sys

    header, rows = _table_rows(records, args)
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
