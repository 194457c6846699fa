"""How `sweep run` and `demo` report a sweep while they wait: a live view on a terminal, plain lines in a log.

`sweep_progress(mode)` gives the two callbacks `run_sweep` takes (`progress(folder)` while cells run,
`data_progress(done, total)` while the dataset is built) for the mode `scaling.console.progress_mode` chose:
- "live": `SweepLiveView`, a rich bar over all cells and one line per running cell (epoch, val loss); log records
  go through a RichHandler on the same console, so they print above the view instead of breaking it.
- "lines": `SweepProgressLines`, a plain line every `line_interval()` seconds (cells done / running / failed,
  elapsed, estimated remaining), from a background thread, so a log shows the sweep is alive even while one
  long cell or the dataset build runs.
- "off": no callbacks.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Callable, TextIO

from scaling.console import ProgressMode, line_interval
from scaling.sweep.runfolder import METRICS_FILE, RunFolder, read_jsonl
from scaling.sweep.status import sweep_status

Callbacks = tuple[Callable[[RunFolder], None] | None, Callable[[int, int], None] | None]


@contextlib.contextmanager
def sweep_progress(mode: ProgressMode, prefix: str = "scaling sweep", stream: TextIO | None = None) -> Iterator[Callbacks]:
    """(progress, data_progress) for `run_sweep`, shown the way `mode` says while the block runs."""
    if mode == "live":
        with SweepLiveView() as view:
            yield view.update, view.data_update
    elif mode == "lines":
        with SweepProgressLines(prefix, stream=stream) as lines:
            yield lines.update, lines.data_update
    else:
        yield None, None


class SweepLiveView:
    """Context manager; `update(folder)` redraws at most twice a second. Draws on stderr, like every progress."""

    def __init__(self, console=None) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=self.console)
        self.task = self.bar.add_task("cells", total=None, counts="")
        self.data_task = None
        self.live = Live(self.bar, console=self.console, refresh_per_second=4, transient=False)
        self.last = 0.0
        self._handlers: list[logging.Handler] = []

    def __enter__(self) -> "SweepLiveView":
        from rich.logging import RichHandler

        root = logging.getLogger()
        self._handlers = root.handlers[:]
        handler = RichHandler(console=self.console, show_time=False, show_path=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.handlers = [handler]
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)
        logging.getLogger().handlers = self._handlers

    def data_update(self, done: int, total: int) -> None:
        if self.data_task is None:
            self.data_task = self.bar.add_task("data", total=total, counts="")
        self.bar.update(self.data_task, completed=done, total=total)

    def update(self, folder: RunFolder) -> None:
        from rich.console import Group
        from rich.table import Table

        if time.monotonic() - self.last < 0.5:
            return
        self.last = time.monotonic()
        status = sweep_status(folder.path)
        counts = status["counts"]
        self.bar.update(self.task, total=len(status["cells"]), completed=counts["done"] + counts["failed"],
                        counts=" ".join(f"{n} {k}" for k, n in counts.items() if n))
        running = Table.grid(padding=(0, 2))
        for cell in status["cells"]:
            if cell["status"] != "running":
                continue
            metrics = read_jsonl(folder.cell_dir(cell["cell_id"]) / METRICS_FILE)
            last = metrics[-1] if metrics else {}
            loss = last.get("val_loss")
            running.add_row(cell["cell_id"], f"epoch {len(metrics)}",
                            f"val loss {loss:.4g}" if isinstance(loss, (int, float)) else "")
        self.live.update(Group(self.bar, running))


class SweepProgressLines:
    """Context manager: a background thread prints one plain line every `interval` seconds, and one at the end.

    The remaining time is the elapsed time since the first cell poll, scaled by the cost of the cells still to
    finish over the cost of those finished in this run: a cell's cost is its planned seconds (train + test) from
    RUN_DIR/plan.json, which count its steps, or, for a cell the plan lacks, D x N (`sweep.plan.cell_cost`)."""

    def __init__(self, prefix: str, stream: TextIO | None = None, interval: float | None = None) -> None:
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self.interval = interval or line_interval()
        self.start = time.monotonic()
        self.folder: RunFolder | None = None
        self.data: tuple[int, int] | None = None
        self._cells_since: float | None = None
        self._done_before: set[str] | None = None
        self._costs: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweep-progress-lines", daemon=True)

    def __enter__(self) -> "SweepProgressLines":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._print()

    def update(self, folder: RunFolder) -> None:
        if self.folder is None:  # the cells start: what is finished now was finished before this run
            self._cells_since = time.monotonic()
            self._done_before = {c["cell_id"] for c in sweep_status(folder.path)["cells"]
                                 if c["status"] in ("done", "failed")}
            self.folder = folder

    def data_update(self, done: int, total: int) -> None:
        self.data = (done, total)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._print()

    def _print(self) -> None:
        try:
            line = self.line()
        except Exception as error:  # a cell file mid-rename (or a bug here): skip this tick, never stop the sweep
            line = f"status unreadable this time ({error.__class__.__name__}: {error})"
        print(f"{self.prefix}: {line}", file=self.stream, flush=True)

    def line(self) -> str:
        elapsed = f"{_minutes(time.monotonic() - self.start)} elapsed"
        if self.folder is None:
            step = f" (step {self.data[0]}/{self.data[1]})" if self.data else ""
            return f"preparing the data{step}; {elapsed}"
        status = sweep_status(self.folder.path)
        counts = status["counts"]
        finished = {c["cell_id"] for c in status["cells"] if c["status"] in ("done", "failed")}
        cells = (f"{counts['done']}/{len(status['cells'])} cells done, {counts['running']} running, "
                 f"{counts['failed']} failed")
        return f"{cells}; {elapsed}, {self._remaining(status['cells'], finished)}"

    def _remaining(self, cells: list[dict], finished: set[str]) -> str:
        from scaling.sweep.plan import cell_cost, planned_seconds

        if not self._costs:
            self._costs = planned_seconds(self.folder.path)
            before = self._done_before or set()
            if any(c["cell_id"] not in self._costs for c in cells if c["cell_id"] not in before):
                self._costs = {}  # costs on one scale: every cell of this run planned, or none
        for cell in cells:
            if cell["cell_id"] not in self._costs:
                self._costs[cell["cell_id"]] = cell_cost(self.folder.read_cell(cell["cell_id"]))
        left = sum(self._costs[c["cell_id"]] for c in cells if c["cell_id"] not in finished)
        if left == 0:
            return "nothing left"
        spent = sum(self._costs[c] for c in finished - (self._done_before or set()))
        if spent == 0 or self._cells_since is None:
            return "remaining time known after the first cell"
        return f"about {_minutes((time.monotonic() - self._cells_since) * left / spent)} left"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
