"""The SLURM executor: submitit job arrays, one array task per pack of `cells_per_job` cells.

A task runs its cells one after another, or, with `cells_per_gpu: K` > 1, up to K at once as separate worker
processes (the local executor's pool: spawned, each with cpus // K torch threads) sharing the task's GPU, or with
gpus: 0 its CPU allocation: small cells then fill one device instead of queueing for K.

Each task runs `CellBatch`, a submitit Checkpointable: on preemption (USR2, e.g. `scancel --signal=USR2`) or when
its time limit nears (`signal_delay_s` before), submitit calls `checkpoint()`, which requeues the same task; the
restarted task skips cells already done and resumes the interrupted one from its last checkpoint.pt (training
saves one every epoch and every `checkpoint_every_steps` steps). `max_requeues` caps the restarts
(SLURM_RESTART_COUNT); a task past the cap ends, and its cells stay pending for the next `sweep run`.
"""

from __future__ import annotations

import logging
import os
import time
import submitit

from scaling.atomic import atomic_write_json
from scaling.errors import InputError
from scaling.sweep.cellrun import run_cell, train_rank
from scaling.sweep.plan import cell_cost
from scaling.sweep.runfolder import RunFolder, read_json
from scaling.sweep.spec import SlurmExecutorSpec

log = logging.getLogger(__name__)


class CellBatch(submitit.helpers.Checkpointable):
    """The callable of one array task: runs its cells in order (done ones are skipped)."""

    def __init__(self, run_dir: str, device: str, threads: int, max_requeues: int, cells_at_once: int = 1):
        self.run_dir = run_dir
        self.device = device
        self.threads = threads
        self.max_requeues = max_requeues
        self.cells_at_once = cells_at_once

    def __call__(self, cell_ids: list[str]) -> dict[str, str]:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        environment = submitit.JobEnvironment()
        if environment.num_tasks > 1:  # a data-parallel cell: one task per rank (scaling.train.distributed)
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
            if environment.global_rank > 0:
                return {cell_id: train_rank(self.run_dir, cell_id, device=self.device, threads=self.threads)
                        for cell_id in cell_ids}
        at_once = min(self.cells_at_once, len(cell_ids))
        if at_once > 1:
            return self._packed(cell_ids, environment.job_id, at_once)
        return {cell_id: run_cell(self.run_dir, cell_id, device=self.device, threads=self.threads,
                                  job_id=environment.job_id)
                for cell_id in cell_ids}

    def _packed(self, cell_ids: list[str], job_id: str, at_once: int) -> dict[str, str]:
        """`at_once` worker processes share the allocation; the task's CPUs are split between them."""
        from scaling.sweep.local import LocalPool

        pool = LocalPool(max_parallel=at_once, threads=max(1, self.threads // at_once))
        try:
            return pool.run(RunFolder(self.run_dir), cell_ids, device=self.device, job_id=job_id)
        finally:
            pool.terminate()

    def checkpoint(self, cell_ids: list[str]):
        """Called by submitit on USR2 (preemption or time limit): requeue unless the cap is reached."""
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
        if restarts >= self.max_requeues:
            log.warning("not requeuing: %d requeues already (max_requeues=%d)", restarts, self.max_requeues)
            return None
        log.warning("requeuing (restart %d of at most %d); the cell resumes from its checkpoint", restarts + 1,
                    self.max_requeues)
        return submitit.helpers.DelayedSubmission(self, cell_ids)


def submit_slurm(folder: RunFolder, cell_ids: list[str], settings: SlurmExecutorSpec, sweep_name: str) -> list[str]:
    """Submit the cells as one job array; records the job ids (jobs.json, each cell's state); returns the ids."""
    import shutil

    if shutil.which("sbatch") is None:
        raise InputError("executor `slurm`: sbatch not found on PATH (run on a SLURM login node)")
    executor = submitit.AutoExecutor(folder=folder.path / "slurm" / "%j", cluster="slurm",
                                     slurm_max_num_timeout=settings.max_requeues)
    parameters = {
        "name": f"scaling-{sweep_name}",
        "timeout_min": settings.time_min,
        "cpus_per_task": settings.cpus,
        "slurm_array_parallelism": settings.array_parallelism,
        "slurm_signal_delay_s": settings.signal_delay_s,
        "slurm_additional_parameters": dict(settings.extra_sbatch),
    }
    devices = int(folder.load_spec().training.get("devices", 1))  # a multiple of nodes (checked by the spec)
    if devices > 1:  # one task per rank; rank 0 also runs the cell's bookkeeping
        parameters["nodes"] = settings.nodes
        parameters["tasks_per_node"] = devices // settings.nodes
    if settings.gpus:
        parameters["gpus_per_node"] = settings.gpus
    if settings.memory_gb is not None:
        parameters["mem_gb"] = settings.memory_gb
    if settings.partition:
        parameters["slurm_partition"] = settings.partition
    if settings.account:
        parameters["slurm_account"] = settings.account
    executor.update_parameters(**parameters)
    order = sorted(cell_ids, key=lambda c: cell_cost(folder.read_cell(c)))  # similar cells pack together
    packs = [order[i:i + settings.cells_per_job] for i in range(0, len(order), settings.cells_per_job)]
    batch = CellBatch(str(folder.path), settings.device, settings.cpus, settings.max_requeues, settings.cells_per_gpu)
    now = time.time()
    for cell_id in order:  # before submitting: a task may start (and write "running") at once
        folder.write_state(cell_id, "queued", submitted_at=now)
    jobs = executor.map_array(batch, packs)
    records = read_json(folder.jobs_path) or {"jobs": []}
    for job, pack in zip(jobs, packs):
        records["jobs"].append({"job_id": job.job_id, "cells": pack, "submitted_at": now})
    atomic_write_json(folder.jobs_path, records)
    log.info("submitted %d cells as %d array tasks (job %s)", len(cell_ids), len(packs),
             jobs[0].job_id.split("_")[0] if jobs else "-")
    return [job.job_id for job in jobs]


def cancel_slurm(folder: RunFolder) -> list[str]:
    """scancel every job of this run folder that is still queued or running."""
    import subprocess

    from scaling.sweep.status import slurm_queue

    records = read_json(folder.jobs_path) or {"jobs": []}
    queue = slurm_queue() or set()
    jobs = [job["job_id"] for job in records["jobs"] + records.get("analysis", [])]
    live = [job_id for job_id in jobs if str(job_id) in queue]
    if live:
        subprocess.run(["scancel", *live], check=False)
    return live
