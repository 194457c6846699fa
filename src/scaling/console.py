"""What the user sees while long work runs: the one place that decides between a live view, plain lines, or nothing.

A rich live view (bars, redrawn in place) only makes sense on a terminal; in a log file or a CI log it is noise or
nothing at all, so there long work prints plain lines at a steady interval instead (`scaling sweep run`,
`scaling demo`), and shorter work (a dataset build, a bootstrap) stays silent. `--quiet` silences both.
Deliberately light (no rich, no torch): every command asks it before importing anything heavy.
"""

from __future__ import annotations

import os
import sys
from typing import Literal, TextIO

ProgressMode = Literal["live", "lines", "off"]

# Seconds between plain progress lines; SCALING_PROGRESS_SECONDS overrides (the tests use a short one).
DEFAULT_LINE_SECONDS = 20.0


def progress_mode(quiet: bool, stream: TextIO | None = None) -> ProgressMode:
    """"off" under --quiet; "live" when `stream` (default stderr, where progress goes) is a terminal and the
    CI variable is unset; else "lines"."""
    if quiet:
        return "off"
    stream = sys.stderr if stream is None else stream
    interactive = hasattr(stream, "isatty") and stream.isatty()
    return "live" if interactive and not os.environ.get("CI") else "lines"


def show_live_progress(quiet: bool) -> bool:
    """A progress bar is drawn only in live mode (bars for short work print nothing in a log)."""
    return progress_mode(quiet) == "live"


def line_interval() -> float:
    """Seconds between plain progress lines: SCALING_PROGRESS_SECONDS if set to a positive number, else 20."""
    try:
        value = float(os.environ.get("SCALING_PROGRESS_SECONDS", DEFAULT_LINE_SECONDS))
    except ValueError:
        return DEFAULT_LINE_SECONDS
    return value if value > 0 else DEFAULT_LINE_SECONDS
