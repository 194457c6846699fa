"""`scaling evaluate`: use-case properties of a trained potential (or any ASE calculator) against a reference,
and (`--correlate TABLE`) how a sweep's validation loss ranks the cells compared with those properties."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="use-case properties of a potential vs EMT (or per-group DFT errors); loss-metric rank correlation",
        description="Evaluate MODEL (best.pt, a run or cell folder) or --calculator module:callable on a suite: "
        "`emt` (equations of state, elastic constants, vacancy and surface energies, hot forces, MD heating ramp, "
        "NVE drift, each vs EMT), `emt-light` (the same, smaller), `groups` (per-group errors of --data FILE) or a "
        "SUITE.yaml. With --correlate TABLE: Spearman rank correlation (bootstrap 95% CI over cells) between the "
        "loss and every metric column of a collected sweep table, and figures of each metric against D and N. "
        "See docs/usecase.md.",
    )
    parser.add_argument("model", nargs="?", metavar="MODEL", help="best.pt, or a run or cell folder holding one")
    parser.add_argument("--calculator", metavar="MODULE:CALLABLE", help="an ASE calculator factory, e.g. "
                        "ase.calculators.emt:EMT (imported, never evaluated)")
    parser.add_argument("--suite", default="emt", help="emt (default), emt-light, groups, or SUITE.yaml")
    parser.add_argument("--elements", metavar="Cu,Ni,...", help="metals to test (default: the model's)")
    parser.add_argument("--data", metavar="FILE", help="labelled test file for --suite groups (e.g. mlearn JSON)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device of a checkpoint's model")
    parser.add_argument("--json", metavar="OUT", help="write the evaluation (metrics and per-structure details)")
    parser.add_argument("--correlate", metavar="TABLE", help="instead: correlate a sweep table's loss with its "
                        "metric columns (needs --out for figures)")
    parser.add_argument("--loss", default="val_loss", help="the loss column for --correlate (default val_loss)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for --correlate")
    parser.add_argument("--out", metavar="DIR", help="--correlate: folder for correlation.json and the figures")
    parser.add_argument("--quiet", dest="evaluate_quiet", action="store_true", help="no progress or summary")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from scaling.atomic import atomic_write_json

    quiet = args.quiet or args.evaluate_quiet
    if args.correlate:
        return _correlate(args, quiet)
    from scaling.evaluate.models import resolve_model
    from scaling.evaluate.runner import run_suite
    from scaling.evaluate.suite import load_suite

    suite = load_suite(args.suite, elements=args.elements, data=args.data)  # a flag the suite lacks: exit 2
    model = resolve_model(args.model, args.calculator, device=args.device)
    from scaling.console import show_live_progress

    document = run_suite(model, suite, progress=show_live_progress(quiet))
    if args.json:
        atomic_write_json(args.json, document)
    if not quiet:
        print(_summary(document))
    return 0


def _summary(document: dict) -> str:
    lines = [f"{document['suite']} suite on {document['model']} ({document['seconds']:.1f} s)"]
    for name, value in document["metrics"].items():
        lines.append(f"  {name:32s} {'undefined' if value is None else f'{value:.6g}'}")
    return "\n".join(lines)


def _correlate(args: argparse.Namespace, quiet: bool) -> int:
    from pathlib import Path

    from scaling.analysis.correlation import correlate_table
    from scaling.atomic import atomic_write_json
    from scaling.errors import InputError
    from scaling.plot.data import as_frame

    table = as_frame(str(args.correlate))  # a collected table, CSV or Parquet, numeric columns as numbers
    document = correlate_table(table, loss=args.loss, n_bootstrap=args.bootstrap, source=args.correlate)
    if not document["correlations"]:
        raise InputError(f"{args.correlate}: no use-case metric column with values (run a sweep with `evaluation:`)")
    if args.out:
        from scaling.plot.usecase import correlation_figure, metric_figures

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "correlation.json", document)
        document["figures"] = [str(p) for p in metric_figures(table, document["metrics"], out)]
        document["figures"].append(str(correlation_figure(document, out / "correlation.pdf")))
        atomic_write_json(out / "correlation.json", document)
    elif args.json:
        atomic_write_json(args.json, document)
    if not quiet:
        for row in document["correlations"]:
            print(f"{row['metric']:32s} rho={_signed(row['rho'])}  95% CI [{_signed(row['ci95'][0])}, "
                  f"{_signed(row['ci95'][1])}]  n={row['n_cells']}")
    return 0


def _signed(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:+.3f}"
