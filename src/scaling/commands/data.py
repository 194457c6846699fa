"""`scaling data emt|build|merge|info` (and, from scaling.commands.data_provenance, `check|correct`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="datasets: generate EMT data, build graph stores, inspect them")
    data_subparsers = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    emt = data_subparsers.add_parser("emt", help="generate the embedded EMT-labelled alloy dataset (extxyz)")
    emt.add_argument("--n", type=int, required=True, help="number of structures")
    emt.add_argument("--seed", type=int, default=0, help="random seed (same seed, same file)")
    emt.add_argument("--elements", default=None, help="comma-separated elements (default Al,Cu,Ag,Au,Ni,Pd,Pt)")
    emt.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    emt.add_argument("--out", required=True, help="output extxyz file")
    emt.set_defaults(handler=run_emt)

    build = data_subparsers.add_parser("build", help="compute neighbour lists once into a memory-mapped graph store")
    build.add_argument("source", metavar="SOURCE", help="extxyz / any ase.io format / ASE .db / mlearn .json")
    build.add_argument("--cutoff", type=float, default=5.0, help="neighbour cutoff in A (default 5.0)")
    build.add_argument("--out", required=True, help="store folder to create")
    build.add_argument("--force", action="store_true", help="replace an existing store")
    build.add_argument("--workers", type=int, default=1, help="processes computing neighbour lists (default 1)")
    build.add_argument("--shard", default=None, metavar="I/N",
                       help="build only the I-th of N equal frame ranges (0 <= I < N); join with `data merge`")
    _reader_flags(build)
    build.set_defaults(handler=run_build)

    merge = data_subparsers.add_parser("merge", help="join stores (the shards of `build --shard`) into one store")
    merge.add_argument("shards", metavar="SHARD", nargs="+", help="store folders (shards in any order)")
    merge.add_argument("--out", required=True, help="store folder to create")
    merge.add_argument("--force", action="store_true", help="replace an existing store")
    merge.set_defaults(handler=run_merge)

    info = data_subparsers.add_parser("info", help="counts, elements, labels and provenance groups")
    info.add_argument("source", metavar="SOURCE_OR_STORE")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _reader_flags(info)
    info.set_defaults(handler=run_info)

    from scaling.commands import data_provenance

    data_provenance.register(data_subparsers)


def _reader_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", default=None, help="ase.io format, 'db' or 'mlearn' (default: from the suffix)")
    parser.add_argument("--energy-key", default=None, help="info key of the energy (default: detected)")
    parser.add_argument("--forces-key", default=None, help="array key of the forces (default: detected)")
    parser.add_argument("--stress-key", default=None, help="info key of the stress in eV/A^3 (default: detected)")


def _read_kwargs(args) -> dict:
    return {
        "format": args.format,
        "energy_key": args.energy_key,
        "forces_key": args.forces_key,
        "stress_key": args.stress_key,
    }


def progress_bar(args, description: str):
    """A rich progress bar as a (done, total) callback, or a silent one under --quiet, CI or a non-TTY stderr."""
    import contextlib

    from scaling.console import show_live_progress

    if not show_live_progress(args.quiet):
        return contextlib.nullcontext(None)
    return _DoneOfTotalBar(description)


class _DoneOfTotalBar:
    """A transient rich bar on stderr, driven as a `(done, total)` callback (the data builders' progress)."""

    def __init__(self, description: str):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task(description, total=None)

    def __enter__(self):
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.stop()

    def __call__(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)


# Peak memory per EMT structure while a file is written: the structures, the extxyz text and its bytes (measured
# files hold about 4 kB per structure; 64 atoms at most).
_EMT_BYTES_PER_STRUCTURE = 40_000
EXTXYZ_SUFFIXES = (".extxyz", ".xyz")


def _check_emt_args(args) -> None:
    """Every option of `data emt` checked before any structure is generated (InputError, one line)."""
    from scaling.atomic import output_file
    from scaling.errors import InputError
    from scaling.system import require_memory

    if args.n < 1:
        raise InputError(f"--n {args.n}: need at least 1 structure")
    require_memory(args.n * _EMT_BYTES_PER_STRUCTURE, f"--n {args.n}", "generate fewer structures per file")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers {args.workers}: must be at least 1 (or left out: all cores)")
    if args.elements is not None and not all(e.strip() for e in args.elements.split(",")):
        raise InputError(f"--elements {args.elements!r}: an empty element name; give e.g. Al,Cu")
    if Path(args.out).suffix.lower() not in EXTXYZ_SUFFIXES:
        raise InputError(f"--out {args.out}: the file is written as extxyz, so it must end in .extxyz or .xyz")
    output_file(args.out, "extxyz")


def run_emt(args) -> int:
    import sys

    from scaling.atomic import atomic_write_bytes
    from scaling.data.emt import DEFAULT_ELEMENTS, check_elements, emt_dataset

    _check_emt_args(args)
    elements = check_elements(args.elements.split(",") if args.elements is not None else DEFAULT_ELEMENTS)
    with progress_bar(args, "EMT trajectories") as progress:
        cached = emt_dataset(args.n, args.seed, elements, workers=args.workers, progress=progress)
    atomic_write_bytes(args.out, cached.read_bytes())
    if not args.quiet:
        print(f"wrote {args.n} EMT structures ({','.join(elements)}, seed {args.seed}) to {args.out}", file=sys.stderr)
    return 0


def run_build(args) -> int:
    from scaling.data.build import parse_shard
    from scaling.data.store import build_store

    shard = parse_shard(args.shard) if args.shard is not None else None
    with progress_bar(args, "structures") as progress:
        build_store(args.source, args.out, args.cutoff, read_kwargs=_read_kwargs(args), force=args.force,
                    progress=progress, workers=args.workers, shard=shard)
    return 0


def run_merge(args) -> int:
    from scaling.data.merge import merge_stores

    merge_stores(args.shards, args.out, force=args.force)
    return 0


def run_info(args) -> int:
    import json

    from scaling.data.io import read_structures
    from scaling.data.store import GraphStore, is_store, summarize

    if is_store(args.source):
        report = dict(GraphStore(args.source).manifest)
    else:
        with progress_bar(args, "reading and validating") as progress:
            report = summarize(read_structures(args.source, **_read_kwargs(args), progress=progress))
        report["cutoff"] = None
        report["source"] = args.source
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_table(report))
    return 0


def _table(report: dict) -> str:
    atoms = report["atoms_per_structure"]
    energy = report["energy_per_atom"]
    lines = [
        f"source             {report.get('source')}",
        f"structures         {report['n_structures']}",
        f"atoms              {report['n_atoms']} ({atoms['min']}-{atoms['max']} per structure, mean {atoms['mean']:.1f})",
        f"elements           {', '.join(report['elements'])}",
        f"cutoff [A]         {report['cutoff'] if report.get('cutoff') is not None else '-'}",
        f"forces             {'yes' if report['has_forces'] else 'no'}",
        f"stress             {report['n_with_stress']} of {report['n_structures']} structures",
        f"energy [eV/atom]   min {energy['min']:.4f}  mean {energy['mean']:.4f}  max {energy['max']:.4f}",
    ]
    if "n_edges" in report:
        lines.append(f"edges              {report['n_edges']} ({report['edges_per_atom']:.1f} per atom)")
    lines.append("provenance groups")
    for group in report["provenance_groups"]:
        settings = ", ".join(f"{k}={v}" for k, v in group["settings"].items()) or "no settings"
        lines.append(f"  {group['count']:>7}  {group['calculator']} ({settings}) [{', '.join(group['elements'])}]")
    return "\n".join(lines)
