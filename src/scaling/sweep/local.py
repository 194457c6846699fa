"""The in-process and local executors.

`local` keeps `max_parallel` worker processes (spawned, so the driver never forks a process holding torch
threads). Each worker imports torch and the training code once, in its initializer, while the driver is still
building the dataset, and then runs cell after cell, so a cell costs no interpreter start or import. Each cell gets
cores // max_parallel torch threads: all cores busy, none oversubscribed. Cells are handed out largest first
(train_size x params), which keeps the tail of the sweep short.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Callable, Iterator

from scaling.sweep.cellrun import run_cell
from scaling.sweep.memory import MemoryBudget
from scaling.sweep.plan import cell_cost
from scaling.sweep.runfolder import RunFolder
from scaling.system import available_cores

log = logging.getLogger(__name__)

MAX_POOL_RESTARTS = 3


def run_inline(folder: RunFolder, cell_ids: list[str], device: str = "cpu",
               on_progress: Callable[[], None] | None = None) -> dict[str, str]:
    """Every cell in this process, one after another (for debugging: breakpoints and tracebacks work)."""
    outcomes = {}
    for cell_id in cell_ids:
        try:
            outcomes[cell_id] = run_cell(folder.path, cell_id, device=device, threads=available_cores())
        except Exception as error:  # e.g. the cell's state cannot even be written: that cell fails, not the sweep
            outcomes[cell_id] = cell_failed(folder, cell_id, error)
        if on_progress:
            on_progress()
    return outcomes


def cell_failed(folder: RunFolder, cell_id: str, error: BaseException) -> str:
    """Record an exception that escaped run_cell as the cell's failure (best effort: the disk may be the cause)."""
    reason = f"{type(error).__name__}: {error}"[:500]
    log.error("cell %s failed: %s", cell_id, reason)
    try:
        folder.write_state(cell_id, "failed", reason=reason)
    except OSError as write_error:
        log.error("cell %s: cannot record its failure: %s", cell_id, write_error)
    return "failed"


def _init_worker(threads: int, console_level: int) -> None:
    """Worker start: fix the thread count before torch loads, then import the training stack once.

    The root logger takes INFO (each cell's log.txt gets it); the console only `console_level` (the driver's
    view stays readable)."""
    _die_with_parent()
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # SLURM's preemption signal is the task's (submitit), not a cell's
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(console_level)
    import torch

    torch.set_num_threads(threads)
    import scaling.train  # noqa: F401  (torch_geometric and the models: the import cost paid once per worker)


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the driver dies, so no orphan keeps training (and holding a cell's lock)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _console_level() -> int:
    """Workers print warnings only, unless the driver runs with -v (debug)."""
    return logging.DEBUG if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else logging.WARNING


def _warm() -> int:
    return os.getpid()


class LocalPool:
    """Worker processes that outlive single cells; start() early so the imports overlap the dataset build."""

    def __init__(self, max_parallel: int, threads: int):
        self.max_parallel = max_parallel
        self.threads = threads
        self.pool: ProcessPoolExecutor | None = None
        self.broke = 0  # how many times a worker died and the pool was replaced

    def start(self) -> None:
        self.pool = ProcessPoolExecutor(
            max_workers=self.max_parallel, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.threads, _console_level()),
        )
        for _ in range(self.max_parallel):  # one spawn per submit while no worker is idle: all start now
            self.pool.submit(_warm)

    def terminate(self) -> None:
        """Stop the workers at once (their cells stay resumable from checkpoints)."""
        if self.pool is None:
            return
        processes = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)
        self.pool = None

    def run(self, folder: RunFolder, cell_ids: list[str], device: str,
            on_progress: Callable[[], None] | None = None, budget: MemoryBudget | None = None,
            job_id: str | None = None) -> dict[str, str]:
        """Run the cells, largest first; survive a worker dying (a new pool takes over the unfinished cells).

        With a `budget`, a cell is handed to a worker only when a worker is free and its memory estimate fits
        beside those of the running cells (the largest cell that fits goes first)."""
        order = sorted(cell_ids, key=lambda cell_id: -cell_cost(folder.read_cell(cell_id)))
        outcomes: dict[str, str] = {}
        for restart in range(MAX_POOL_RESTARTS + 1):
            futures: dict[Future, str] = {}
            pending: set[Future] = set()
            waiting = [cell_id for cell_id in order if cell_id not in outcomes]
            limit = self.max_parallel if budget is not None else len(waiting)
            if budget is not None:
                budget.running.clear()

            def fill() -> None:
                while waiting and len(pending) < limit:
                    cell_id = next((c for c in waiting if budget is None or budget.fits(c)), None)
                    if cell_id is None:
                        return
                    waiting.remove(cell_id)
                    future = self.pool.submit(run_cell, str(folder.path), cell_id, device=device,
                                              threads=self.threads, job_id=job_id)
                    futures[future] = cell_id
                    pending.add(future)
                    if budget is not None:
                        budget.start(cell_id)

            broken = False
            try:  # a worker may die while the pool starts or takes cells: then submit itself raises
                if self.pool is None:
                    self.start()
                for cell_id in waiting:
                    state = folder.read_state(cell_id)
                    folder.write_state(cell_id, "pending", submitted_at=time.time(),
                                       **{k: v for k, v in state.items() if k == "reason"})
                fill()
            except BrokenProcessPool:
                broken = True
            while pending:
                finished, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                pending -= finished
                for future in finished:
                    if budget is not None:
                        budget.end(futures[future])
                    try:
                        outcomes[futures[future]] = future.result()
                    except BrokenProcessPool:
                        broken = True
                    except Exception as error:  # raised in the worker for this cell: the fault stays in the cell
                        outcomes[futures[future]] = cell_failed(folder, futures[future], error)
                if not broken:
                    try:
                        fill()
                    except BrokenProcessPool:
                        broken = True
                if on_progress:
                    on_progress()
            if not broken:
                return outcomes
            self.broke += 1
            log.warning("a worker process died; restarting the pool (%d/%d)", restart + 1, MAX_POOL_RESTARTS)
            self.terminate()
        return outcomes


@contextmanager
def install_sigterm_as_interrupt() -> Iterator[None]:
    """`sweep cancel` sends SIGTERM to the driver: while driving, turn it into KeyboardInterrupt so the workers are
    stopped (LocalPool.terminate in a finally); the previous handler comes back afterwards."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
