"""A data-parallel cell (`training.devices: 2`) as one 2-task SLURM job on the localhost cluster: submitit's
TorchDistributedEnvironment joins the tasks into one gloo group, rank 0 keeps the cell's books, and the result equals
the same cell trained by the local executor (which spawns its second rank itself)."""

from __future__ import annotations

import pytest
import torch
import yaml

from scaling.sweep import load_spec, run_sweep, sweep_status
from scaling.sweep.runfolder import RunFolder
from scaling.train.checkpoint import load

SPEC = {
    "name": "ddp",
    "dataset": {"emt": {"n": 60, "seed": 0}, "cutoff": 4.0},
    "split": {"val_fraction": 0.15, "test_fraction": 0.15, "seed": 0, "sampler": "random"},
    "axes": {"train_size": [20], "params": [400], "arch": ["twobody"], "seed": [0]},
    "training": {"max_epochs": 3, "batch_size": 4, "eval_batch_size": 32, "warmup_steps": 3,
                 "checkpoint_every_steps": 3, "devices": 2},
    "executor": {"kind": "local", "local": {"max_parallel": 1, "device": "cpu"},
                 "slurm": {"cpus": 1, "time_min": 10, "device": "cpu", "max_requeues": 0}},
}


@pytest.mark.slow
def test_two_task_slurm_cell_trains_like_the_local_one(slurm_cluster, tmp_path):  # noqa: F811
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    spec = load_spec(path)
    report = run_sweep(spec, tmp_path / "slurm", executor="slurm", wait=True)
    assert len(report.job_ids) == 1
    status = sweep_status(tmp_path / "slurm")
    assert status["counts"]["done"] == 1, status
    folder = RunFolder(tmp_path / "slurm")
    logs = sorted(p.name for p in (folder.path / "slurm").rglob("*_log.out"))
    assert any("_0_log.out" in name for name in logs) and any("_1_log.out" in name for name in logs), logs

    run_sweep(spec, tmp_path / "local", executor="local", wait=True)
    cell_id = status["cells"][0]["cell_id"]
    on_slurm = load(folder.cell_dir(cell_id) / "checkpoint.pt")["model"]
    local = load(RunFolder(tmp_path / "local").cell_dir(cell_id) / "checkpoint.pt")["model"]
    for key in local:
        assert torch.equal(on_slurm[key], local[key]), key
    attempts = [a for a in folder.read_attempts(cell_id) if "event" not in a]
    assert len(attempts) == 1  # rank 1 wrote nothing of the cell's books
