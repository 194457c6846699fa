"""The SLURM job that runs the analysis (scaling.sweep.analyse) once a SLURM sweep's cells have ended.

It is submitted with the cells, `--dependency=afterany:<array>`: it starts when every array task has ended in any
way. afterok would wait for ever behind a task that ended non-zero (a time limit past `max_requeues`, a node
failure), and a requeued task is not ended (SLURM puts it back to pending under the same id), so the job starts
after the final attempt either way. Because "ended" is not "done", the job re-checks the run folder itself:
- cells still active (running, or queued in a live job): it submits itself again behind those jobs;
- cells not done and not failed (e.g. a task stopped at max_requeues): it resubmits them as a new array, and itself
  behind it, at most `analysis.max_rounds` times;
- otherwise (every cell done or failed, or the rounds used up): it runs the analysis on the done cells.
Each submission is recorded in jobs.json under "analysis" (job id, round, the jobs it waits for).
"""

from __future__ import annotations

import logging
import time

import submitit

from scaling.atomic import atomic_write_json
from scaling.sweep.runfolder import RunFolder, read_json
from scaling.sweep.spec import SweepSpec

log = logging.getLogger(__name__)


def array_ids(job_ids: list[str]) -> list[str]:
    """The array job ids of array task ids (123_4 -> 123), each once, in order."""
    return list(dict.fromkeys(str(job_id).split("_")[0] for job_id in job_ids))


class AnalysisJob:
    """The callable of the analysis job."""

    def __init__(self, run_dir: str, round: int = 0):
        self.run_dir = run_dir
        self.round = round

    def __call__(self) -> str:
        from scaling.sweep.analyse import run_analysis
        from scaling.sweep.runner import cells_to_run
        from scaling.sweep.slurm import submit_slurm
        from scaling.sweep.status import cell_jobs, slurm_queue

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        job_id = submitit.JobEnvironment().job_id
        folder = RunFolder(self.run_dir)
        spec = folder.load_spec()
        todo, _, active = cells_to_run(folder)
        if active:
            queue = slurm_queue() or set()
            live = sorted({job for job in cell_jobs(folder).values() if job in queue})
            submit_analysis(folder, spec, array_ids(live), self.round)
            log.info("%d cells still active: analysis resubmitted behind %s", active, live)
            return "waiting"
        if todo and self.round < spec.analysis.max_rounds:
            jobs = submit_slurm(folder, todo, spec.executor.slurm, spec.name)
            submit_analysis(folder, spec, array_ids(jobs), self.round + 1)
            log.info("%d cells not done: resubmitted (round %d)", len(todo), self.round + 1)
            return "resubmitted"
        return run_analysis(folder.path, job_id=job_id)["status"]


def submit_analysis(folder: RunFolder, spec: SweepSpec, after: list[str], round: int = 0) -> str:
    """Submit the analysis job behind the jobs `after` (afterany); returns its job id."""
    settings = spec.executor.slurm
    executor = submitit.AutoExecutor(folder=folder.path / "slurm" / "%j", cluster="slurm")
    extra = dict(settings.extra_sbatch)
    if after:
        extra["dependency"] = "afterany:" + ":".join(after)
    parameters = {"name": f"scaling-{spec.name}-analysis", "timeout_min": settings.time_min, "cpus_per_task": 1,
                  "slurm_additional_parameters": extra}
    if settings.partition:
        parameters["slurm_partition"] = settings.partition
    if settings.account:
        parameters["slurm_account"] = settings.account
    executor.update_parameters(**parameters)
    job = executor.submit(AnalysisJob(str(folder.path), round))
    records = read_json(folder.jobs_path) or {"jobs": []}
    records.setdefault("analysis", []).append({"job_id": job.job_id, "round": round, "after": after,
                                               "submitted_at": time.time()})
    atomic_write_json(folder.jobs_path, records)
    log.info("analysis job %s submitted after %s", job.job_id, ", ".join(after) or "nothing")
    return job.job_id
