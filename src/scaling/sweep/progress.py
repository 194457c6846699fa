"""The live view while `sweep run` waits: a bar over all cells and one line per running cell (epoch, val loss)."""

from __future__ import annotations

import time

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scaling.sweep.runfolder import METRICS_FILE, RunFolder, read_jsonl
from scaling.sweep.status import sweep_status


class LiveProgress:
    """Context manager; `update(folder)` redraws at most twice a second."""

    def __init__(self) -> None:
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[counts]}"), TimeElapsedColumn())
        self.task = self.bar.add_task("cells", total=None, counts="")
        self.live = Live(self.bar, refresh_per_second=4, transient=False)
        self.last = 0.0

    def __enter__(self) -> "LiveProgress":
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)

    def update(self, folder: RunFolder) -> None:
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
