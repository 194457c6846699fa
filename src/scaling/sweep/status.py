"""What each cell is doing: done, running, pending or failed (with a reason), read from the run folder alone.

A cell is done when its result.json validates (`results.CellResult`) and says so; an invalid one leaves the cell
pending (it is re-finished on the next run). A cell whose state says running is running only while a process
holds its lock (the kernel drops it when the holder dies) or, for SLURM, while its job is still in the queue;
otherwise it was interrupted and is pending again (its checkpoint will be resumed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from typing import Any

from scaling.evaluate.stage import pending as evaluation_pending
from scaling.sweep.results import read_result
from scaling.sweep.runfolder import METRICS_FILE, RunFolder, read_json, read_jsonl

STATUSES = ("done", "running", "pending", "failed")


def slurm_queue() -> set[str] | None:
    """Job ids in the SLURM queue (array tasks as JOB_TASK, and their array's JOB id); None without squeue."""
    if shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %A"], capture_output=True, text=True, timeout=30,
                             check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    ids: set[str] = set()
    for line in out.split():
        ids.add(line.strip())
    return ids


def cell_jobs(folder: RunFolder) -> dict[str, str]:
    """The SLURM job (array task) each cell was last submitted to, from jobs.json."""
    records = read_json(folder.jobs_path) or {"jobs": []}
    return {cell_id: str(job["job_id"]) for job in records["jobs"] for cell_id in job["cells"]}


def cell_status(folder: RunFolder, cell_id: str, queue: set[str] | None, cancelled: bool,
                 jobs: dict[str, str] | None = None) -> tuple[dict[str, Any], bool]:
    """(the status row, whether the cell waits in a live SLURM job: structured, so no caller parses the reason)."""
    cell_dir = folder.cell_dir(cell_id)
    result, problem = read_result(cell_dir / "result.json")
    state = folder.read_state(cell_id)
    reason, queued = None, False
    if result is not None and result.get("status") == "done" and not evaluation_pending(cell_dir):
        status, epochs = "done", result.get("epochs")
    elif result is not None and result.get("status") == "failed":
        status, epochs, reason = "failed", result.get("epochs"), result.get("reason")
    else:
        epochs = len(read_jsonl(cell_dir / METRICS_FILE))
        name, job = state.get("state", "pending"), state.get("job_id") or (jobs or {}).get(cell_id)
        in_queue = bool(job) and queue is not None and str(job) in queue
        if name == "failed":
            status, reason = "failed", state.get("reason")
        elif name == "running" and _alive(folder, cell_id, state, queue):
            status = "running"
        elif in_queue or (name == "queued" and queue is None):
            # waiting for its array task, or requeued after preemption: SLURM will start it
            status, reason, queued = "pending", f"queued as SLURM job {job}" if job else "queued", bool(job)
        else:
            status = "pending"
            interrupted = name in ("running", "queued") or state.get("reason") == "interrupted"
            reason = ("cancelled" if cancelled else "interrupted") if interrupted else state.get("reason")
            if problem is not None:
                reason = f"{problem}; re-finished on the next run"
    return {"cell_id": cell_id, "status": status, "epochs": epochs, "reason": reason}, queued


def _alive(folder: RunFolder, cell_id: str, state: dict[str, Any], queue: set[str] | None) -> bool:
    if folder.is_locked(cell_id):
        return True
    if state.get("host") != socket.gethostname() and state.get("job_id") and queue is not None:
        return str(state["job_id"]) in queue  # a SLURM job on another node: its lock may not be visible here
    return False


def cell_statuses(folder: RunFolder) -> list[tuple[dict[str, Any], bool]]:
    """(status row, queued in a live SLURM job) for every cell of the frozen spec, in the spec's order."""
    cell_ids = folder.cell_ids()
    jobs = cell_jobs(folder)
    queue = slurm_queue() if jobs else None
    cancelled = folder.cancel_path.is_file()
    return [cell_status(folder, cell_id, queue, cancelled, jobs) for cell_id in cell_ids]


def sweep_status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """docs/sweeps.md's `status --json` object: counts and one row per cell (in the spec's order)."""
    folder = RunFolder(run_dir)
    spec_cells = {cell.cell_id: cell for cell in folder.load_spec().cells()}
    cells = []
    for row, _ in cell_statuses(folder):
        cell = spec_cells.get(row["cell_id"])
        cells.append({**row, "arch": cell.arch if cell else None, "arch_options": cell.arch_options if cell else {}})
    counts = {name: 0 for name in STATUSES}
    for cell in cells:
        counts[cell["status"]] += 1
    return {"sweep": folder.load_spec().name, "run_dir": str(folder.path), "counts": counts, "cells": cells}
