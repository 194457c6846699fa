"""`scaling data check` and `scaling data correct`: one reference surface per dataset (see docs/coverage.md)."""

from __future__ import annotations

import argparse

from scaling.data.store import is_store


def register(data_subparsers) -> None:
    """Add the provenance subcommands to `scaling data`'s subparsers."""
    check = data_subparsers.add_parser(
        "check",
        help="flag mixed reference surfaces (several functionals, U settings, codes; selective Hubbard U)",
        description="Group structures by reference settings (calculator, functional, Hubbard U, code, ...) and flag "
        "mixtures, in particular U-flagged metals (V, W, Fe, Ni, Co, Cr, Mo, Mn) with U only in cells with O or F. "
        "Exit 0 with a report (exit 1 with --strict when something is flagged), 2 on bad input.",
    )
    check.add_argument("source", metavar="SOURCE_OR_STORE", help="structure file (extxyz, ase, db, mlearn) or store")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--strict", action="store_true", help="exit 1 when a finding is reported")
    check.set_defaults(handler=run_check)

    correct = data_subparsers.add_parser(
        "correct",
        help="remove the U step with one energy shift per U-corrected element, fitted on paired calculations",
        description="Fit E_U - E_plain = sum_el n_el * shift_el by least squares over configurations computed both "
        "with and without Hubbard U (found in SOURCE and --paired together), subtract the shifts from every U "
        "structure of SOURCE, and write all of SOURCE to --out with the correction recorded in its provenance.",
    )
    correct.add_argument("source", metavar="SOURCE", help="structure file with the mixed labels")
    correct.add_argument("--paired", required=True, metavar="FILE", help="the same configurations under the other setting")
    correct.add_argument("--out", required=True, metavar="FILE", help="corrected extxyz")
    correct.add_argument(
        "--match",
        choices=("geometry", "id"),
        default="geometry",
        help="pair by identical numbers, positions and cell (default) or by structure id",
    )
    correct.add_argument("--json", action="store_true", help="print the fitted shifts and errors as JSON")
    correct.set_defaults(handler=run_correct)


def _read(path: str):
    from pathlib import Path

    from scaling.data.io import read_structures
    from scaling.errors import InputError

    if not Path(path).exists():
        raise InputError(f"{path}: no such file")
    return read_structures(path)


def run_check(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from scaling.data.provenance import check_records, record_of, records_of_store

    if is_store(Path(args.source)):
        from scaling.data.store import GraphStore

        records = records_of_store(GraphStore(args.source))
    else:
        records = [record_of(s) for s in _read(args.source)]
    from scaling.errors import InputError

    try:
        report = check_records(records)
    except InputError as error:
        raise InputError(f"{args.source}: {error}") from None
    if args.json:
        print(json.dumps({"source": str(args.source), **report.to_dict()}, indent=2))
    elif not args.quiet:
        _print_check(args.source, report)
    return 1 if args.strict and not report.consistent else 0


def _print_check(source: str, report) -> None:
    print(f"{source}: {report.n_structures} structures in {len(report.provenance_groups)} provenance group(s)")
    for group in report.provenance_groups:
        u = ", ".join(group["hubbard_u_elements"]) or "none"
        print(f"  {group['count']:>7}  {group['calculator']}  {group['settings']}  (U on: {u})")
    if report.consistent:
        print("consistent: one reference surface")
    for finding in report.findings:
        print(f"{finding.kind}: {finding.message}")


def run_correct(args: argparse.Namespace) -> int:
    import json

    from scaling.atomic import output_file
    from scaling.data.io import write_extxyz
    from scaling.data.provenance import apply_energy_shifts, fit_energy_shifts, hubbard_u_elements, record_of

    output_file(args.out, "corrected extxyz")  # a bad output path is refused before any reading or fitting
    source = _read(args.source)
    paired = _read(args.paired)
    fit = fit_energy_shifts(source, paired, by=args.match, where=args.paired)
    corrected = apply_energy_shifts(source, fit, where=args.source)
    write_extxyz(corrected, args.out)
    n_corrected = sum(bool(hubbard_u_elements(record_of(s))) for s in source)
    summary = {"source": args.source, "paired": args.paired, "out": args.out, "n_corrected": n_corrected, **fit.to_dict()}
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        shifts = ", ".join(f"{el} {value:+.4f} eV/atom" for el, value in fit.shifts.items())
        print(f"fitted on {fit.n_pairs} pairs: {shifts}")
        print(
            f"pairs mean |dE| per atom: {fit.mae_before * 1e3:.2f} meV/atom before, "
            f"{fit.mae_after * 1e3:.2f} meV/atom after"
        )
        print(f"corrected {n_corrected} of {len(source)} structures -> {args.out}")
    return 0
