"""`sweep run`: freeze the spec, build the shared data, and hand the cells that are not done to an executor."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from scaling.atomic import atomic_write_json
from scaling.errors import InputError
from scaling.sweep.data import prepare_data
from scaling.sweep.runfolder import RunFolder, read_json
from scaling.sweep.spec import SweepSpec
from scaling.sweep.status import sweep_status

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    run_dir: Path
    executor: str
    submitted: list[str] = field(default_factory=list)
    skipped_done: int = 0
    skipped_active: int = 0
    job_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def default_run_dir(spec: SweepSpec) -> Path:
    return Path("runs") / spec.name


def cells_to_run(folder: RunFolder) -> tuple[list[str], int, int]:
    """Cells that are neither done nor active (running, or queued in a live SLURM job); plus both counts."""
    todo, done, active = [], 0, 0
    for cell in sweep_status(folder.path)["cells"]:
        if cell["status"] == "done":
            done += 1
        elif cell["status"] == "running" or (cell["reason"] or "").startswith("queued as SLURM job"):
            active += 1
        else:
            todo.append(cell["cell_id"])
    return todo, done, active


def run_sweep(spec: SweepSpec, run_dir: str | os.PathLike | None = None, executor: str | None = None,
              wait: bool = True, progress: Callable[..., None] | None = None,
              data_progress=None) -> RunReport:
    """Run (or resume) a sweep; returns what was submitted. `progress(folder)` is called while waiting."""
    kind = executor or spec.executor.kind
    folder = RunFolder(run_dir or default_run_dir(spec))
    spec = folder.freeze(spec)
    folder.ensure_cells(spec.cells())
    folder.cancel_path.unlink(missing_ok=True)
    report = RunReport(run_dir=folder.path, executor=kind)

    if kind == "slurm":
        prepare_data(folder, spec, progress=data_progress)
        todo, report.skipped_done, report.skipped_active = cells_to_run(folder)
        if todo:
            from scaling.sweep.slurm import submit_slurm

            report.job_ids = submit_slurm(folder, todo, spec.executor.slurm, spec.name)
        report.submitted = todo
        if wait:
            wait_for_slurm(folder, progress)
    else:
        with driver_claim(folder):
            report = _run_here(folder, spec, kind, report, progress, data_progress)
    report.counts = sweep_status(folder.path)["counts"]
    return report


def _run_here(folder: RunFolder, spec: SweepSpec, kind: str, report: RunReport, progress, data_progress) -> RunReport:
    from scaling.sweep.local import LocalPool, available_cores, install_sigterm_as_interrupt, run_inline

    on_progress = (lambda: progress(folder)) if progress else None
    todo, report.skipped_done, report.skipped_active = cells_to_run(folder)
    report.submitted = todo
    with install_sigterm_as_interrupt():
        if kind == "inline":
            prepare_data(folder, spec, progress=data_progress)
            run_inline(folder, todo, device=spec.executor.local.device, on_progress=on_progress)
            return report
        if not todo:
            prepare_data(folder, spec, progress=data_progress)
            return report
        cores = available_cores()
        max_parallel = spec.executor.local.max_parallel or cores
        # Threads from the spec and the machine, never from how many cells are left: the thread count changes
        # torch's summation order, so a resumed sweep's last cell must train as it would have in the full run.
        pool = LocalPool(max_parallel=min(max_parallel, len(todo)), threads=max(1, cores // max_parallel))
        pool.start()  # workers import torch while the data is built
        try:
            prepare_data(folder, spec, progress=data_progress)
            pool.run(folder, todo, device=spec.executor.local.device, on_progress=on_progress)
        finally:
            pool.terminate()
    return report


class driver_claim:
    """Record this process as the folder's local driver (driver.json); refuse if another live one holds it."""

    def __init__(self, folder: RunFolder):
        self.folder = folder

    def __enter__(self) -> "driver_claim":
        other = read_json(self.folder.driver_path)
        if other and other.get("pid") != os.getpid() and _driver_alive(other):
            raise InputError(f"{self.folder.path}: already being run by process {other['pid']} "
                             f"(`scaling sweep cancel {self.folder.path}` stops it)")
        atomic_write_json(self.folder.driver_path, {"pid": os.getpid(), "host": socket.gethostname(),
                                                    "started": time.time(), "proc_start": _proc_start(os.getpid())})
        return self

    def __exit__(self, *exc) -> None:
        current = read_json(self.folder.driver_path)
        if current and current.get("pid") == os.getpid():
            self.folder.driver_path.unlink(missing_ok=True)


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return None


def _proc_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[19] if stat else None  # field 22 of /proc/PID/stat: start time since boot


def _pid_alive(pid: int) -> bool:
    """Running and not a zombie (a killed driver may linger as one until its parent reaps it)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def _driver_alive(driver: dict) -> bool:
    """The recorded driver still runs: same host, live pid, same start time (so not a reused pid)."""
    pid = int(driver["pid"])
    return (driver.get("host") == socket.gethostname() and _pid_alive(pid)
            and driver.get("proc_start") in (None, _proc_start(pid)))


def wait_for_slurm(folder: RunFolder, progress=None, poll_s: float = 3.0) -> None:
    """Block until no cell of the folder is running or queued in a live SLURM job."""
    while True:
        _, _, active = cells_to_run(folder)
        if progress:
            progress(folder)
        if active == 0:
            return
        time.sleep(poll_s)


def cancel(run_dir: str | os.PathLike) -> dict:
    """Stop a sweep: SIGTERM to the local driver (its workers stop; cells stay resumable), scancel SLURM jobs."""
    import signal

    folder = RunFolder(run_dir)
    folder.load_spec()
    atomic_write_json(folder.cancel_path, {"time": time.time()})
    stopped: dict = {"driver": None, "slurm_jobs": []}
    driver = read_json(folder.driver_path)
    if driver and _driver_alive(driver):
        os.kill(int(driver["pid"]), signal.SIGTERM)
        stopped["driver"] = int(driver["pid"])
        for _ in range(100):
            if not _pid_alive(int(driver["pid"])):
                break
            time.sleep(0.1)
    if folder.jobs_path.is_file():
        from scaling.sweep.slurm import cancel_slurm

        stopped["slurm_jobs"] = cancel_slurm(folder)
    log.info("cancelled: %s", json.dumps(stopped))
    return stopped
