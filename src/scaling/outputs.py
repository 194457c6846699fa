"""What the fit, fit2d and plot commands share about their outputs: paths checked before any work, the matplotlib
backend chosen only when a figure is written, and the bootstrap progress bar.

The output-path rule is `scaling.atomic.output_file`'s (an existing target must be a regular file, or a symlink to
one); it is applied here before any fitting, so a bad path costs nothing. (Kept outside scaling.commands so
that registering a command imports no other command module.)
"""

from __future__ import annotations

import os

from scaling.errors import InputError

FIGURE_SUFFIXES = ("", ".pdf", ".png")
WHERE_HELP = ("keep rows matching a filter: columns (`backquoted` if needed), literals, comparisons, and/or/not, "
              "in [...], arithmetic, e.g. \"arch == 'twobody' and train_size >= 100\"; by default a table with a "
              "status column keeps its 'done' rows")


def check_output(path: str | None, flag: str) -> None:
    """`path` may be written: the one output-path rule of `scaling.atomic.output_file`, named by its flag."""
    if path is None:
        return
    from scaling.atomic import output_file

    try:
        output_file(path, what=flag)
    except InputError as error:
        raise InputError(f"{flag} {error}") from None


def check_figure_path(path: str | None, flag: str, suffixes: tuple[str, ...] = ("",)) -> None:
    """A figure's OUT: OUT.pdf, OUT.png or a bare name (both are written); OUT{suffix}.pdf/.png must be writable."""
    if path is None:
        return
    stem, suffix = os.path.splitext(path)
    if suffix.lower() not in FIGURE_SUFFIXES:
        raise InputError(f"{flag} {path}: unknown figure extension {suffix!r} (give OUT.pdf or OUT.png; both are written)")
    if not stem or os.path.isdir(path):
        raise InputError(f"{flag} {path}: is a directory; give a file name such as {os.path.join(path, 'fit.pdf')}")
    stem = stem if suffix else path
    for extra in suffixes:
        for extension in (".pdf", ".png"):
            check_output(f"{stem}{extra}{extension}", flag)


def use_file_backend() -> None:
    """Draw into files (Agg) from the command line; chosen here, not when the plot package is imported, so a
    notebook that imports `scaling.plot` keeps its own backend."""
    import matplotlib

    matplotlib.use("Agg")


def with_progress(label: str, work):
    """Run `work(progress)` under a transient rich bar on stderr; `progress(k)` advances it by k."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        return work(lambda k: bar.advance(task, k))


def report_left_out(document: dict, args) -> None:
    """One line on stderr when rows of a collected sweep were left out by their status."""
    import sys

    left_out = document["left_out"]["status"]
    if left_out and not args.quiet:
        counts = ", ".join(f"{status}: {count}" for status, count in left_out.items())
        print(f"note: {sum(left_out.values())} row(s) whose status is not 'done' left out ({counts}); "
              "name `status` in --where to choose rows yourself", file=sys.stderr)
