"""`scaling fit2d`: fit a two-axis law L(N, D) per group, with bootstrap intervals and derived quantities."""

from __future__ import annotations

import argparse

PLOT_FILES = ("", "_data", "_params", "_residuals", "_exponents", "_frontier")  # the files --plot OUT writes

DESCRIPTION = """\
Fit a two-axis scaling law L(N, D) to a results table (one fit per --group value).

Laws:
  chinchilla       L = E + A/N^alpha + B/D^beta
  kaplan-broken    L = [(Nc/N)^(aN/aD2) + (Dc/D)*(1+Dc/D)^(aD1/aD2-1)]^aD2
  hoffmann-broken  L = L0 + (Nc/N)^aN + (Dc/D)^aD2*(1+Dc/D)^(aD1-aD2)

Rows sharing (group, N, D) are seeds: they are averaged, and their population std (ddof=0) weights the
residuals with --weights seed-std. --loss huber sums the Huber terms over points (Hoffmann et al.); with
--law chinchilla --loss huber --huber-delta 1e-3 this is their recipe (log-sum-exp form in log space, a grid
of 4,500 starts). The JSON mirrors `scaling fit`'s and adds the crossover line D_x(N), local exponents
dlnL/dlnD and dlnL/dlnN on a grid, the data exponent per N, and for chinchilla and hoffmann-broken the
compute-optimal frontier N_opt(C), D_opt(C) (with 95% bands under --bootstrap) for C = 6 N D, or for a power law
C = c N^a D^b fitted to a column of measured compute with --compute COL; and an IsoFLOP view (loss against N per
compute bin, a parabola in ln N per bin with 3 or more N). See docs/analysis.md.
"""

EPILOG = """\
example:
  scaling fit2d grid.csv --n n_params --d train_size --y val_loss --group arch \\
      --law kaplan-broken --weights seed-std --space linear --bootstrap 200 --json fit2d.json --plot fit2d.pdf
"""


def register(subparsers) -> None:
    from scaling.analysis.catalog import builtin_names
    from scaling.outputs import WHERE_HELP

    parser = subparsers.add_parser(
        "fit2d", help="fit a two-axis law L(N, D) (chinchilla, kaplan-broken, hoffmann-broken)",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("table", metavar="TABLE", help="results table: CSV, Parquet (.parquet) or JSON lines (.jsonl)")
    parser.add_argument("--n", required=True, metavar="COL", help="column of the parameter count N")
    parser.add_argument("--d", required=True, metavar="COL", help="column of the training-set size D")
    parser.add_argument("--y", required=True, metavar="COL", help="column of the loss to fit (positive)")
    parser.add_argument("--group", nargs="+", action="extend", default=[], metavar="COL",
                        help="fit each value (combination) of these columns separately (--group a b or --group a --group b)")
    parser.add_argument("--where", metavar="FILTER", help=WHERE_HELP)
    parser.add_argument("--law", choices=builtin_names(n_inputs=2), default="chinchilla", help="two-axis law (default: chinchilla)")
    parser.add_argument("--space", choices=("log", "linear"), default="log",
                        help="residuals of ln L (log, default) or of L (linear)")
    parser.add_argument("--loss", choices=("lsq", "huber"), default="lsq", help="least squares or Huber (summed)")
    parser.add_argument("--huber-delta", type=float, default=1e-3, metavar="D", help="Huber delta (default 1e-3)")
    parser.add_argument("--weights", choices=("none", "seed-std"), default="none",
                        help="weight residuals by 1/seed std (needs >= 2 seeds per point)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="bootstrap replicates for 95%% intervals (seed resampling, or residual resampling with one seed)")
    parser.add_argument("--bootstrap-method", choices=("auto", "pairs"), default="auto",
                        help="auto: seeds within each point, else pooled residuals, t-calibrated (default); "
                             "pairs: resample the points with replacement, plain percentile intervals and SEs")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap (default 0)")
    parser.add_argument("--starts", type=int, default=24, metavar="S",
                        help="best-ranked starting points optimised per fit (default 24)")
    parser.add_argument("--compute", metavar="COL",
                        help="column of measured training compute (e.g. train_flops): the frontier and IsoFLOP bins "
                             "use it, through C = c N^a D^b fitted to it (default: C = 6 N D assumed)")
    parser.add_argument("--json", metavar="OUT", help="write the fits as JSON")
    parser.add_argument("--plot", metavar="OUT.pdf",
                        help="write figures: OUT (surface), OUT_data, OUT_params, OUT_residuals, OUT_exponents, "
                             "OUT_frontier (each .pdf and .png)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from scaling.analysis.fit2d import Fit2DSettings, fit2d_table
    from scaling.console import show_live_progress
    from scaling.outputs import check_figure_path, check_output, with_progress

    settings = Fit2DSettings(law=args.law, space=args.space, loss=args.loss, huber_delta=args.huber_delta,
                             weights=args.weights, bootstrap=args.bootstrap, seed=args.seed, n_starts=args.starts,
                             bootstrap_method=args.bootstrap_method, compute=args.compute)
    check_output(args.json, "--json")
    check_figure_path(args.plot, "--plot", suffixes=PLOT_FILES)
    if args.bootstrap and show_live_progress(args.quiet):
        document = with_progress("bootstrap", lambda progress: fit2d_table(
            args.table, args.n, args.d, args.y, args.group, args.where, settings, progress=progress))
    else:
        document = fit2d_table(args.table, args.n, args.d, args.y, args.group, args.where, settings)
    if args.json:
        from scaling.atomic import atomic_write_json

        atomic_write_json(args.json, document)
    if args.plot:
        from scaling.outputs import use_file_backend

        use_file_backend()
        from scaling.plot.figures import plot_fit2d_all

        plot_fit2d_all(document, args.plot)
    if not args.quiet:
        from scaling.outputs import report_left_out

        report_left_out(document, args)
        print(summary(document))
    return 0


def summary(document: dict) -> str:
    """A few lines per fit: parameters with standard errors, AICc, RMSLE, crossover and frontier exponents."""
    lines = []
    for entry in document["fits"]:
        head = ", ".join(f"{k}={v}" for k, v in entry["group"].items()) or "all rows"
        lines.append(f"{head}: {entry['law']} on {entry['n_points']} points, AICc {_num(entry['aicc'])}, "
                     f"RMSLE {_num(entry['rmsle'])}")
        if entry["unidentified"]:
            lines.append(f"  not identified by the data: {', '.join(entry['unidentified'])}")
        for quantity, reason in (entry.get("withheld") or {}).items():
            lines.append(f"  {quantity.replace('_', ' ')} withheld: {reason}")
        boot = (entry.get("bootstrap") or {}).get("stderr") or {}
        for name, value in entry["params"].items():
            se = boot.get(name, entry["stderr"].get(name))
            ci = (entry.get("params_ci95") or {}).get(name)
            text = f"  {name:>6} = {value:.6g}" + (f" +- {se:.3g}" if se is not None else "")
            if ci and None not in ci:
                text += f"  95% CI [{ci[0]:.4g}, {ci[1]:.4g}]"
            lines.append(text + ("  (not identified)" if name in entry["unidentified"] else ""))
        cost = entry.get("cost_model")
        if cost and cost["kind"] == "fitted":
            lines.append(f"  cost model: C = {cost['c']:.3g} N^{cost['a']:.3f} D^{cost['b']:.3f} fitted to "
                         f"{cost['column']} (RMSLE {_num(cost['rmsle'])})")
        elif cost:
            lines.append("  cost model: C = 6 N D assumed (no --compute column)")
        if entry.get("compute_optimal"):
            lines.append(_frontier_line(entry["compute_optimal"]))
        if entry.get("isoflop"):
            lines.append(_isoflop_line(entry["isoflop"]))
    return "\n".join(lines)


def _frontier_line(opt: dict) -> str:
    """N_opt ~ C^a, D_opt ~ C^b with their 95% intervals when bootstrapped."""
    def exponent(key: str) -> str:
        ci = opt.get(f"{key}_ci95")
        return f"{opt[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")

    return f"  compute-optimal: N_opt ~ C^{exponent('a')}, D_opt ~ C^{exponent('b')}"


def _isoflop_line(iso: dict) -> str:
    """The IsoFLOP bins' N_opt, or why the grid gives none."""
    if iso["note"]:
        return f"  IsoFLOP: {iso['note']}"
    found = ", ".join(f"C~{b['C']:.3g}: N_opt {b['n_opt']:.3g}" for b in iso["bins"] if b["n_opt"] is not None)
    slope = f"; N_opt ~ C^{iso['a']:.3f} over the bins" if iso.get("a") is not None else ""
    return f"  IsoFLOP (parabola in ln N per compute bin): {found}{slope}"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"
