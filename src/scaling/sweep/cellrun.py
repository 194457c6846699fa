"""Run one cell: the same function under every executor (in-process, a local worker, a SLURM job).

It takes the cell's lock (so a cell never trains twice at once), sets aside files the cell cannot use
(`cellfiles.repair_cell_files`), records the attempt, hands the cell's folder to `scaling.train.run_training` (which
resumes from checkpoint.pt when present), runs the evaluation stage when the spec has `evaluation:`
(scaling.evaluate.stage), and writes the cell's state. Any exception stays in the cell: it is recorded as the
cell's failure, never raised into the executor.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from scaling.evaluate.stage import evaluate_cell, mark_pending
from scaling.sweep.cellfiles import repair_cell_files
from scaling.sweep.data import store_path, test_store_path
from scaling.sweep.runfolder import CHECKPOINT_FILE, RunFolder
from scaling.sweep.spec import Cell

log = logging.getLogger(__name__)


def train_config(cell: Cell, store: Path, device: str, threads: int | None, test_store: Path | None = None):
    """The TrainConfig of a cell: the shared training budget, plus what the grid and the run folder fix."""
    from scaling.train import TrainConfig

    split = cell.shared["split"]
    return TrainConfig.from_dict(
        {
            **cell.shared["training"],
            "store": str(store),
            "test_store": None if test_store is None else str(test_store),
            "train_size": cell.train_size,
            "params": cell.n_params,
            "arch": cell.arch,
            "arch_options": cell.arch_options,
            "seed": cell.seed,
            "sampler": split["sampler"],
            "val_fraction": split["val_fraction"],
            "test_fraction": split["test_fraction"],
            "split_seed": split["seed"],
            "device": device,
            "threads": threads,
        },
        source=f"cell {cell.cell_id}",
    )


def evaluation_suite(folder: RunFolder):
    """The suite of the spec's enabled `evaluation:` section, or None."""
    evaluation = folder.load_spec().evaluation
    return evaluation.suite_object() if evaluation is not None and evaluation.enabled else None


def run_cell(run_dir: str | os.PathLike, cell_id: str, *, device: str = "cpu", threads: int | None = None,
             job_id: str | None = None) -> str:
    """Train (or resume) one cell; returns its final state: done, failed, or busy (another process holds it)."""
    folder = RunFolder(run_dir)
    if folder.is_done(cell_id):
        return "done"
    cell_dir = folder.cell_dir(cell_id)
    with folder.cell_lock(cell_id) as acquired:
        if not acquired:
            return "busy"
        if folder.is_done(cell_id):
            return "done"
        try:
            return _run_locked(folder, cell_id, cell_dir, device, threads, job_id)
        except Exception as error:  # outside training too (reading or repairing the cell's files): kept in the cell
            log.error("cell %s failed: %s: %s", cell_id, type(error).__name__, error)
            folder.write_state(cell_id, "failed", job_id=job_id, reason=f"{type(error).__name__}: {error}"[:500])
            return "failed"


def train_rank(run_dir: str | os.PathLike, cell_id: str, *, device: str = "cpu", threads: int | None = None) -> str:
    """Rank 1..K-1 of a data-parallel cell launched as K SLURM tasks: train with rank 0, which alone holds the cell's
    lock and writes its state and files (scaling.train.distributed)."""
    from scaling.train import run_training

    folder = RunFolder(run_dir)
    cell = folder.read_cell(cell_id)
    test_store = test_store_path(folder) if cell.shared["dataset"].get("test_path") else None
    result = run_training(train_config(cell, store_path(folder), device, threads, test_store), folder.cell_dir(cell_id))
    return result.get("status", "failed")


def _run_locked(folder: RunFolder, cell_id: str, cell_dir: Path, device: str, threads: int | None,
                job_id: str | None) -> str:
    from scaling.train import run_training
    from scaling.train.checkpoint import completed_epochs

    picked_at = time.time()
    previous = folder.read_state(cell_id)
    cell = folder.read_cell(cell_id)
    repairs = repair_cell_files(cell_dir)
    for repair in repairs:
        log.warning("cell %s: %s kept as %s: %s", cell_id, repair["file"], repair["kept_as"], repair["reason"])
    attempt = {
        "attempt": sum("event" not in a for a in folder.read_attempts(cell_id)) + 1,
        "time": picked_at,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "job_id": job_id,
        "slurm_restart_count": int(os.environ.get("SLURM_RESTART_COUNT", 0)) if job_id else None,
        "resumed": (cell_dir / CHECKPOINT_FILE).is_file(),
        "epochs_before": completed_epochs(cell_dir / CHECKPOINT_FILE),
        **({"repairs": repairs} if repairs else {}),
    }
    folder.append_attempt(cell_id, attempt)
    timing = {"submitted_at": previous.get("submitted_at"), "picked_at": picked_at}
    folder.write_state(cell_id, "running", job_id=job_id, attempt=attempt["attempt"], **timing)

    first_step: list[float] = []

    def on_step(step: int) -> None:
        if not first_step:
            first_step.append(time.time())
            folder.append_attempt(cell_id, {"attempt": attempt["attempt"], "event": "first_step",
                                            "time": first_step[0], "step": step})
            folder.write_state(cell_id, "running", job_id=job_id, attempt=attempt["attempt"],
                               first_step_at=first_step[0], **timing)

    handler = logging.FileHandler(cell_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        log.info("cell %s attempt %d on %s (resumed=%s)", cell_id, attempt["attempt"], attempt["host"],
                 attempt["resumed"])
        test_store = test_store_path(folder) if cell.shared["dataset"].get("test_path") else None
        config = train_config(cell, store_path(folder), device, threads, test_store)
        suite = evaluation_suite(folder)
        if suite is not None:
            mark_pending(cell_dir, suite)
        result: dict[str, Any] = run_training(config, cell_dir, on_step=on_step)
        if suite is not None and result.get("status") == "done":
            result = evaluate_cell(cell_dir, suite)  # the resumable evaluation stage (scaling.evaluate.stage)
    except Exception as error:  # a crash in one cell must not take the sweep down; its reason is kept
        log.error("cell %s failed: %s: %s", cell_id, type(error).__name__, error)
        log.info("%s", traceback.format_exc())  # the traceback goes to the cell's log.txt, not the console
        folder.write_state(cell_id, "failed", job_id=job_id, reason=f"{type(error).__name__}: {error}"[:500],
                           first_step_at=first_step[0] if first_step else None, **timing)
        return "failed"
    except BaseException:  # killed, cancelled or preempted: back to pending, the checkpoint stays
        folder.write_state(cell_id, "pending", job_id=job_id, reason="interrupted", **timing)
        raise
    finally:
        root.removeHandler(handler)
        handler.close()
    status = result.get("status", "failed")
    folder.write_state(cell_id, "done" if status == "done" else "failed", job_id=job_id, reason=result.get("reason"),
                       first_step_at=first_step[0] if first_step else None, finished_at=time.time(), **timing)
    return "done" if status == "done" else "failed"
