"""A real single-node SLURM (scripts/slurm_cluster.sh): the smoke sweep through the slurm executor, one running cell
preempted with USR2, requeued, resumed from its checkpoint (its epoch count continues), and the sweep completes;
the analysis job behind the array runs after the requeued cell's final attempt and leaves results.csv and the
figure; and packed cells (cells_per_gpu 2) run two at a time in one task, each once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from concurrency_helpers import cell_intervals, peak_overlap
from scaling.sweep import collect, load_spec, run_sweep, sweep_status
from scaling.sweep.runfolder import RunFolder, read_json, read_jsonl
from scaling.sweep.runner import wait_for_slurm
from scaling.sweep.spec import AnalysisSpec

REPO = Path(__file__).resolve().parents[1]


def _wait_for_running_cell(folder: RunFolder, min_epochs: int, seconds: float = 300):
    """A cell that trains now (in a SLURM job) with at least `min_epochs` epochs logged: (cell_id, job_id, epochs);
    polled until one does, failing after `seconds`."""
    deadline = time.time() + seconds
    while True:
        for cell in sweep_status(folder.path)["cells"]:
            state = folder.read_state(cell["cell_id"])
            epochs = len(read_jsonl(folder.cell_dir(cell["cell_id"]) / "metrics.jsonl"))
            if cell["status"] == "running" and state.get("job_id") and epochs >= min_epochs:
                return cell["cell_id"], state["job_id"], epochs
        assert time.time() < deadline, f"no cell reached epoch {min_epochs} in time: {sweep_status(folder.path)}"
        time.sleep(0.1)


def preempt(folder: RunFolder, cell_id: str) -> None:
    """SLURM's preemption signal (USR2) to the task process that trains the cell, once. Not `scancel --signal`: on a
    loaded machine slurmctld may answer it "Job can not be altered now, try again later" although the task got the
    signal, and scancel's retries then signal the requeued task again, even before submitit's handler is set up,
    which kills it (exit 140; seen in slurmctld.log)."""
    os.kill(int(folder.read_state(cell_id)["pid"]), signal.SIGUSR2)


@pytest.mark.slow
def test_smoke_sweep_on_slurm_survives_preemption(slurm_cluster, tmp_path):
    spec = load_spec(REPO / "experiments" / "smoke.yaml")
    spec = spec.model_copy(update={"analysis": AnalysisSpec()})  # power law in D per (arch, N), after the sweep
    run_dir = tmp_path / "run"
    report = run_sweep(spec, run_dir, executor="slurm", wait=False)
    assert len(report.job_ids) == 4 and len(report.submitted) == 4 and report.analysis_job
    folder = RunFolder(run_dir)

    cell_id, job_id, epochs_at_signal = _wait_for_running_cell(folder, min_epochs=2)
    preempt(folder, cell_id)

    wait_for_slurm(folder, poll_s=1.0)
    status = sweep_status(run_dir)
    assert status["counts"] == {"done": 4, "running": 0, "pending": 0, "failed": 0}, status

    starts = [a for a in folder.read_attempts(cell_id) if "event" not in a]
    assert len(starts) == 2, starts  # preempted once, requeued once
    first, second = starts
    assert first["job_id"] == second["job_id"] == job_id  # the same array task, requeued
    assert first["slurm_restart_count"] == 0 and second["slurm_restart_count"] == 1
    # Resumed, epochs continue. An epoch's metric line is written just before its checkpoint, so the checkpoint may
    # hold one epoch fewer than the lines seen when the signal went out (that epoch is trained again, its line kept once).
    assert second["resumed"] and second["epochs_before"] >= epochs_at_signal - 1 >= 1
    epochs = [line["epoch"] for line in read_jsonl(folder.cell_dir(cell_id) / "metrics.jsonl")]
    assert epochs == list(range(1, spec.training["max_epochs"] + 1))
    assert first["attempt"] == 1 and second["attempt"] == 2
    log = (folder.cell_dir(cell_id) / "log.txt").read_text()
    assert "requeuing (restart 1" in log and f"at epoch {second['epochs_before']}" in log
    table = collect(run_dir, coverage=False)
    assert len(table) == 4 and (table["status"] == "done").all() and table["val_loss"].notna().all()

    # The analysis job (afterany on the array) ran after the requeued task's final attempt, without the user.
    analysis = run_dir / "analysis"
    deadline = time.time() + 240
    while not (analysis / "analysis.json").is_file():
        assert time.time() < deadline, f"no analysis: {read_json(folder.jobs_path)}"
        time.sleep(1.0)
    record = read_json(analysis / "analysis.json")
    assert record["status"] == "done" and record["counts"] == {"done": 4}, record
    assert {"results.csv", "fit.json", "fit.pdf", "fit.png"} <= set(record["outputs"])
    finished = max(folder.read_state(c)["finished_at"] for c in folder.cell_ids())
    assert record["finished_at"] > finished
    jobs = read_json(folder.jobs_path)
    assert [(a["job_id"], a["round"], a["after"]) for a in jobs["analysis"]] == [
        (report.analysis_job, 0, [job_id.split("_")[0]])]
    assert record["job_id"] == report.analysis_job
    written = (analysis / "results.csv").read_text().splitlines()
    assert len(written) == 5 and all(",done," in line for line in written[1:])


@pytest.mark.slow
def test_the_analysis_job_resubmits_the_cells_of_a_killed_task(slurm_cluster, tmp_path):
    """A task cancelled outright (not requeued) ends; the analysis job behind the array finds its cell not done,
    submits it again with itself behind it (round 1), and then analyses all cells: the user still gets figures."""
    spec = load_spec(REPO / "experiments" / "smoke.yaml")
    # 150 epochs, so the cancelled cell is still far from done when scancel lands (at 20 it could finish first)
    spec = spec.model_copy(update={"analysis": AnalysisSpec(), "axes": spec.axes.model_copy(update={"params": (400,)}),
                                   "training": {**spec.training, "max_epochs": 150}})
    run_dir = tmp_path / "run"
    report = run_sweep(spec, run_dir, executor="slurm", wait=False)
    folder = RunFolder(run_dir)
    cell_id, job_id, _ = _wait_for_running_cell(folder, min_epochs=2)
    subprocess.run(["scancel", job_id], check=True)

    analysis = run_dir / "analysis" / "analysis.json"
    deadline = time.time() + 420
    while not analysis.is_file():
        assert time.time() < deadline, f"no analysis: {read_json(folder.jobs_path)}"
        time.sleep(1.0)
    record = read_json(analysis)
    assert record["status"] == "done" and record["counts"] == {"done": 2}, record
    rounds = read_json(folder.jobs_path)["analysis"]
    assert [a["round"] for a in rounds] == [0, 1] and rounds[0]["job_id"] == report.analysis_job
    assert record["job_id"] == rounds[1]["job_id"]
    starts = [a for a in folder.read_attempts(cell_id) if "event" not in a]
    assert len(starts) == 2 and starts[1]["resumed"] and starts[1]["job_id"] != job_id  # a new job resumed it
    assert rounds[1]["after"] == [starts[1]["job_id"].split("_")[0]]


@pytest.mark.slow
def test_packed_cells_share_one_task(slurm_cluster, tmp_path):
    """cells_per_job 4, cells_per_gpu 2: one array task runs the 4 smoke cells two at a time, each once."""
    spec = load_spec(REPO / "experiments" / "smoke.yaml")
    slurm = spec.executor.slurm.model_copy(update={"cells_per_job": 4, "cells_per_gpu": 2, "cpus": 2})
    spec = spec.model_copy(update={"executor": spec.executor.model_copy(update={"slurm": slurm})})
    run_dir = tmp_path / "run"
    report = run_sweep(spec, run_dir, executor="slurm", wait=True)
    assert len(report.job_ids) == 1 and len(report.submitted) == 4
    assert report.counts == {"done": 4, "running": 0, "pending": 0, "failed": 0}, sweep_status(run_dir)
    folder = RunFolder(run_dir)
    starts = {c: [a for a in folder.read_attempts(c) if "event" not in a] for c in folder.cell_ids()}
    assert all(len(attempts) == 1 for attempts in starts.values()), starts  # every cell exactly once
    assert {attempts[0]["job_id"] for attempts in starts.values()} == {report.job_ids[0]}
    assert len({attempts[0]["pid"] for attempts in starts.values()}) >= 2  # separate processes
    assert peak_overlap(cell_intervals(folder)) == 2  # two at once, never more


def test_requeues_stop_at_the_cap(monkeypatch, tmp_path):
    """CellBatch.checkpoint (what submitit calls on USR2) requeues until SLURM_RESTART_COUNT reaches max_requeues."""
    from scaling.sweep.slurm import CellBatch

    batch = CellBatch(str(tmp_path), device="cpu", threads=1, max_requeues=2)
    for restarts, requeued in ((0, True), (1, True), (2, False), (5, False)):
        monkeypatch.setenv("SLURM_RESTART_COUNT", str(restarts))
        delayed = batch.checkpoint(["cell-a", "cell-b"])
        assert (delayed is not None) == requeued
        if delayed is not None:
            assert delayed.function is batch and delayed.args == (["cell-a", "cell-b"],)
