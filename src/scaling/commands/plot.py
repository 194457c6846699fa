"""`scaling plot`: paper figures from a fit JSON and/or a results table (see docs/figures.md)."""

from __future__ import annotations

import argparse

KINDS_2D = ("all", "surface", "data", "params", "residuals", "exponents", "frontier")
KINDS_1D = ("fit", "residuals", "exponents")

DESCRIPTION = """\
Draw paper figures (vector PDF + 300 dpi PNG, colour-blind-safe, labels with units).

Two-axis fit (a `scaling fit2d` JSON, which carries its seed-averaged points; no table needed):
  --kind all        all six below: OUT (surface), OUT_data, OUT_params, OUT_residuals, OUT_exponents,
                    OUT_frontier
  --kind surface    filled contours of the fitted L(N, D), data, crossover line, iso-loss lines
  --kind data       loss vs D, one curve per N, break Dc with its 95% band, regimes and exponents
  --kind params     loss vs N, one curve per D
  --kind residuals  ln(observed/fitted) vs D, coloured by N
  --kind exponents  local data exponent -dlnL/dlnD per N at the smallest and largest D, with 95% intervals
  --kind frontier   IsoFLOP curves (loss vs N per compute bin, parabola in ln N) and the compute-optimal
                    frontier N_opt(C), D_opt(C) with 95% bands; withheld or impossible parts said in words
One-axis fit (a `scaling fit` JSON; it names its table, columns and filter, which --table, --x, --y, --group,
--where override):
  --kind fit        loss vs x per group, seed error bars, fitted law, breaks with 95% bands, exponents
  --kind residuals  ln(observed/fitted) vs x per group
  --kind exponents  each regime's exponent per group value (the fit must be grouped by one numeric column,
                    e.g. --group n_params), with 95% intervals
Table only (no --fit): the seed means with std error bars, one series per group.
"""

EPILOG = """\
examples:
  scaling plot --fit fit2d.json --out figures/surface.pdf
  scaling plot --fit fit.json --out data.pdf
  scaling plot --table results.csv --x train_size --y val_loss --group arch --out points.pdf
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "plot", help="paper figures from a fit JSON and/or a results table",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--fit", metavar="FIT.json", help="a `scaling fit` or `scaling fit2d` JSON")
    parser.add_argument("--table", metavar="TABLE", help="results table (CSV, Parquet, JSON lines)")
    parser.add_argument("--x", metavar="COL", help="x column of the table (one-axis fits and table-only plots)")
    parser.add_argument("--y", metavar="COL", help="loss column of the table")
    parser.add_argument("--group", nargs="+", action="extend", default=[], metavar="COL",
                        help="group columns (--group a b or --group a --group b; default: the fit's own)")
    parser.add_argument("--where", metavar="FILTER", help="row filter of the table (as `scaling fit --where`; "
                        "default: the fit's own)")
    parser.add_argument("--kind", choices=sorted(set(KINDS_2D + KINDS_1D)),
                        help="which figure (default: all for a two-axis fit, fit for a one-axis fit)")
    parser.add_argument("--y-unit", metavar="UNIT", help='unit of the loss for the axis label, e.g. "eV/atom"')
    parser.add_argument("--out", required=True, metavar="OUT.pdf", help="output path; OUT.pdf and OUT.png are written")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from scaling.errors import InputError
    from scaling.outputs import check_figure_path, use_file_backend

    if args.fit is None and args.table is None:
        raise InputError("scaling plot needs --fit FIT.json, --table TABLE, or both")
    from scaling.plot.data import fit_kind, read_fit

    document = read_fit(args.fit) if args.fit is not None else None
    kind = fit_kind(document) if document is not None else "fit1d"
    check_figure_path(args.out, "--out", suffixes=_FIT2D_FILES if kind == "fit2d" and (args.kind or "all") == "all"
                      else ("",))
    use_file_backend()
    written = _plot_2d(document, args) if kind == "fit2d" else _plot_1d(document, args)
    if not args.quiet:
        print("\n".join(str(path) for path in written))
    return 0


_FIT2D_FILES = ("", "_data", "_params", "_residuals", "_exponents", "_frontier")


def _plot_2d(document: dict, args) -> list:
    from scaling.errors import InputError
    from scaling.plot import figures

    kind = args.kind or "all"
    if kind not in KINDS_2D:
        raise InputError(f"--kind {kind}: a two-axis fit draws {', '.join(KINDS_2D)}")
    if kind == "exponents" and not all("data_exponent_per_n" in f for f in document["fits"]):
        raise InputError(f"{args.fit}: field 'data_exponent_per_n' missing; refit with a current `scaling fit2d`")
    draw = {
        "all": lambda: figures.plot_fit2d_all(document, args.out),
        "surface": lambda: figures.plot_surface(document, args.out),
        "data": lambda: figures.plot_slices(document, args.out, axis="D"),
        "params": lambda: figures.plot_slices(document, args.out, axis="N"),
        "residuals": lambda: figures.plot_residuals(document, args.out),
        "exponents": lambda: figures.plot_exponents(document, args.out),
        "frontier": lambda: _frontier(document, args),
    }
    return draw[kind]()


def _frontier(document: dict, args) -> list:
    from scaling.errors import InputError
    from scaling.plot.frontier import has_compute_view, plot_frontier

    if not has_compute_view(document):
        raise InputError(f"{args.fit}: field 'isoflop' missing; refit with a current `scaling fit2d`")
    return plot_frontier(document, args.out)


def _plot_1d(document: dict | None, args) -> list:
    """A one-axis fit over its table: the table, columns, filter and status rule come from the fit JSON (flags
    override them); a table-only plot takes them from the flags."""
    from scaling.errors import InputError
    from scaling.plot import figures
    from scaling.plot.data import as_frame

    kind = args.kind or "fit"
    if kind not in KINDS_1D:
        raise InputError(f"--kind {kind}: a one-axis fit or a table draws {', '.join(KINDS_1D)}")
    if document is not None and kind == "exponents":
        return figures.plot_exponents(document, args.out)
    columns = (document or {}).get("columns") or {}
    table_path = args.table or (document or {}).get("table")
    x, y = args.x or columns.get("x"), args.y or columns.get("y")
    group = args.group or columns.get("group") or []
    where = args.where if args.where is not None else (document or {}).get("where")
    if table_path is None or x is None or y is None:
        raise InputError("a table-only plot (or a fit JSON without its columns) needs --table, --x and --y")
    table = as_frame(table_path, where, status_filter=True)
    needed = {column for entry in (document or {}).get("fits", []) for column in (entry.get("group") or {})}
    for flag, column in [("--x", x), ("--y", y), *(("--group", g) for g in [*group, *sorted(needed - set(group))])]:
        if column not in table.columns:
            raise InputError(f"{table_path}: {flag} column {column!r} not found (columns: {', '.join(table.columns)})")
    _check_finite(table, table_path, [x, y])
    document = document or {"fits": []}
    if kind == "residuals":
        return figures.plot_residuals(document, args.out, table=table, x=x, y=y, group=group)
    return figures.plot_fit1d(table, document, args.out, x=x, y=y, group=group, y_unit=args.y_unit)


def _check_finite(table, path: str, columns: list[str]) -> None:
    """Every value of the x and loss columns is a finite number (as a fit requires), else one line naming the row."""
    import numpy as np
    import pandas as pd

    from scaling.errors import InputError

    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            row = int(bad[0])
            raise InputError(f"{path}: column {column!r} row {row + 1}: {table[column].iloc[row]!r} is not a finite "
                             "number")
