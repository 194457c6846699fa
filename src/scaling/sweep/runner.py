"""`sweep run`: freeze the spec, build the shared data, and hand the cells that are not done to an executor."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from scaling.atomic import atomic_write_json
from scaling.errors import InputError
from scaling.sweep.data import prepare_data
from scaling.sweep.runfolder import RunFolder, read_json
from scaling.sweep.spec import SweepSpec
from scaling.sweep.status import cell_statuses, sweep_status

log = logging.getLogger(__name__)

DRIVER_LOCK = "driver.lock"


@dataclass
class RunReport:
    run_dir: Path
    executor: str
    submitted: list[str] = field(default_factory=list)
    skipped_done: int = 0
    skipped_active: int = 0
    job_ids: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    not_done: list[dict] = field(default_factory=list)  # status rows of submitted cells that did not end done
    pool_restarts: int = 0  # times a local worker died and its pool was replaced
    waited: bool = True  # False for a SLURM submission that returned at once
    analysis_job: str | None = None  # the SLURM job that runs the analysis after the cells (spec `analysis:`)

    def summary_of_not_done(self) -> str | None:
        """One line: how many submitted cells are not done, and why (None when all are)."""
        if not self.not_done:
            return None
        reasons: dict[str, int] = {}
        for cell in self.not_done:
            why = f"{cell['status']}: {cell['reason'] or 'no reason recorded'}"
            reasons[why] = reasons.get(why, 0) + 1
        pool = f"; the worker pool broke {self.pool_restarts} times" if self.pool_restarts else ""
        listed = "; ".join(f"{n} {why}" for why, n in sorted(reasons.items(), key=lambda item: -item[1]))
        return f"{len(self.not_done)} of {len(self.submitted)} cells not done{pool}: {listed}"


def default_run_dir(spec: SweepSpec) -> Path:
    return Path("runs") / spec.name


def cells_to_run(folder: RunFolder) -> tuple[list[str], int, int]:
    """Cells that are neither done nor active (running, or queued in a live SLURM job); plus both counts."""
    todo, done, active = [], 0, 0
    for cell, queued in cell_statuses(folder):
        if cell["status"] == "done":
            done += 1
        elif cell["status"] == "running" or queued:
            active += 1
        else:
            todo.append(cell["cell_id"])
    return todo, done, active


def run_sweep(spec: SweepSpec, run_dir: str | os.PathLike | None = None, executor: str | None = None,
              wait: bool = True, progress: Callable[..., None] | None = None,
              data_progress=None, spec_source: str | None = None,
              announce: Callable[[str], None] | None = None, cost_plan=None) -> RunReport:
    """Run (or resume) a sweep; returns what was submitted. `progress(folder)` is called while waiting.

    `spec_source` names the spec in error messages (the CLI passes the spec file). With `announce`, the cost of
    the cells left is planned on the pool preflight read (scaling.sweep.plan), its summary line handed to
    `announce` and the plan saved as RUN_DIR/plan.json before anything trains; `cost_plan`, a
    `scaling.sweep.plan.Plan` already made for this spec, is used (and saved) instead. A local memory budget takes
    its estimates from the plan."""
    from scaling.sweep.data import store_path, test_store_path
    from scaling.sweep.preflight import check_spec

    kind = executor or spec.executor.kind
    folder = RunFolder(run_dir or default_run_dir(spec))
    # Everything that can be refused is refused before the first write: the folder stays as it was.
    merged = folder.merged(spec)
    plan = check_spec(spec, spec_source or f"sweep spec {spec.name!r}",
                      existing_store=store_path(folder) if folder.exists() else None,
                      existing_test_store=test_store_path(folder) if folder.exists() else None,
                      progress=data_progress)
    cost = cost_plan or (_plan_cost(merged, kind, folder, plan, announce) if announce else None)
    budget = _memory_budget(merged, kind, folder, cost, plan, spec_source or f"sweep spec {spec.name!r}")
    spec = folder.freeze(merged)
    folder.ensure_cells(spec.cells())
    if cost is not None:
        from scaling.sweep.plan import save_plan

        save_plan(folder.path, cost)
    folder.cancel_path.unlink(missing_ok=True)
    report = RunReport(run_dir=folder.path, executor=kind, waited=wait)

    if kind == "slurm":
        prepare_data(folder, spec, progress=data_progress, plan=plan)
        todo, report.skipped_done, report.skipped_active = cells_to_run(folder)
        if todo:
            from scaling.sweep.slurm import submit_slurm

            report.job_ids = submit_slurm(folder, todo, spec.executor.slurm, spec.name)
            if spec.analysis is not None and spec.analysis.enabled:
                from scaling.sweep.analysis_job import array_ids, submit_analysis

                report.analysis_job = submit_analysis(folder, spec, array_ids(report.job_ids))
        report.submitted = todo
        if wait:
            wait_for_slurm(folder, progress)
    else:
        with driver_claim(folder):
            if budget is not None:
                budget.record(folder)
            report = _run_here(folder, spec, kind, report, progress, data_progress, plan, budget)
        if spec.analysis is not None and spec.analysis.enabled:
            from scaling.sweep.analyse import run_analysis

            run_analysis(folder.path)
    status = sweep_status(folder.path)
    report.counts = status["counts"]
    if report.waited:
        asked = set(report.submitted)
        report.not_done = [cell for cell in status["cells"] if cell["cell_id"] in asked and cell["status"] != "done"]
    return report


def _plan_cost(spec: SweepSpec, kind: str, folder: RunFolder, data, announce: Callable[[str], None]):
    """The sweep's plan on the pool preflight read (None, said in one line, when no estimate can be made: an
    estimate must not stop the run)."""
    from scaling.sweep.plan import plan_sweep, summary_line

    try:
        cost = plan_sweep(spec, kind, folder.path, pool=data.pool.structures if data.pool is not None else None)
    except InputError:
        raise
    except Exception as error:
        announce(f"plan: no estimate ({type(error).__name__}: {error})")
        return None
    announce(summary_line(cost))
    return cost


def _memory_budget(spec: SweepSpec, kind: str, folder: RunFolder, cost_plan, data, source: str):
    """The local executor's MemoryBudget (None without `memory_budget_mb`), checked before anything is written."""
    budget_mb = spec.executor.local.memory_budget_mb
    if kind != "local" or budget_mb is None:
        return None
    from scaling.sweep.memory import MemoryBudget, cell_estimates, check_budget
    from scaling.sweep.plan import plan_sweep

    if cost_plan is None:  # not announced (or no estimate could be made): plan here, on the pool preflight read
        cost_plan = plan_sweep(spec, kind, folder.path, pool=data.pool.structures if data.pool is not None else None)
    device, estimates = cell_estimates(cost_plan)
    check_budget(estimates, budget_mb, device, source)
    return MemoryBudget(budget_mb, estimates, device)


def _run_here(folder: RunFolder, spec: SweepSpec, kind: str, report: RunReport, progress, data_progress,
              plan=None, budget=None) -> RunReport:
    from scaling.sweep.local import LocalPool, available_cores, install_sigterm_as_interrupt, run_inline

    on_progress = (lambda: progress(folder)) if progress else None
    todo, report.skipped_done, report.skipped_active = cells_to_run(folder)
    report.submitted = todo
    with install_sigterm_as_interrupt():
        if kind == "inline":
            prepare_data(folder, spec, progress=data_progress, plan=plan)
            run_inline(folder, todo, device=spec.executor.local.device, on_progress=on_progress)
            return report
        if not todo:
            prepare_data(folder, spec, progress=data_progress, plan=plan)
            return report
        cores = available_cores()
        max_parallel = spec.executor.local.max_parallel or cores
        # Threads from the spec and the machine, never from how many cells are left: the thread count changes
        # torch's summation order, so a resumed sweep's last cell must train as it would have in the full run.
        pool = LocalPool(max_parallel=min(max_parallel, len(todo)), threads=max(1, cores // max_parallel))
        pool.start()  # workers import torch while the data is built
        try:
            prepare_data(folder, spec, progress=data_progress, plan=plan)
            pool.run(folder, todo, device=spec.executor.local.device, on_progress=on_progress, budget=budget)
        finally:
            report.pool_restarts = pool.broke
            pool.terminate()
    return report


@contextmanager
def driver_claim(folder: RunFolder) -> Iterator[None]:
    """Hold the folder's driver lock (flock on RUN_DIR/driver.lock) for the driver's life; refuse at once if another
    process holds it. The kernel gives the lock to exactly one of any number of drivers started together, and drops
    it when its holder dies (even by SIGKILL). driver.json records the holder's pid for `sweep cancel` and messages.
    """
    import fcntl

    handle = open(folder.path / DRIVER_LOCK, "a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = read_json(folder.driver_path) or {}
            who = f"process {other['pid']}" if other.get("pid") else "another process"
            raise InputError(f"{folder.path}: already being run by {who} "
                             f"(`scaling sweep cancel {folder.path}` stops it)") from None
        atomic_write_json(folder.driver_path, {"pid": os.getpid(), "host": socket.gethostname(),
                                               "started": time.time(), "proc_start": _proc_start(os.getpid())})
        try:
            yield
        finally:
            current = read_json(folder.driver_path)
            if current and current.get("pid") == os.getpid():
                folder.driver_path.unlink(missing_ok=True)
    finally:
        handle.close()  # releases the lock; the lock file stays (unlinking it would race a new driver)


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
