"""End-to-end checks of the use-case suite on trained potentials (slow: real training on a tiny Cu-only EMT pool).

- A potential trained for a handful of steps has a hot-force error at least 5x that of one trained to convergence
  on the same data, and breaks earlier on the MD heating ramp.
- A sweep with `evaluation:` SIGKILLed while a cell evaluates, then run again, finishes every cell once (no cell
  trains again), with the use-case metrics in the collected table.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from sweep_helpers import status_once_workers_are_gone

from scaling.sweep import collect, sweep_status
from scaling.sweep.runfolder import RunFolder


@pytest.fixture(scope="module")
def cu_store(tmp_path_factory):
    from scaling.data.emt import emt_dataset
    from scaling.data.store import build_store

    folder = tmp_path_factory.mktemp("cu")
    source = emt_dataset(60, seed=0, elements=("Cu",), cache=folder / "cache")
    build_store(source, folder / "store", cutoff=4.5)
    return folder / "store"


def train(store: Path, run_dir: Path, **budget) -> Path:
    from scaling.train import TrainConfig, run_training

    config = TrainConfig(store=str(store), params=4000, arch="twobody", seed=0, batch_size=8, lr=0.005,
                         device="cpu", threads=1, **budget)
    result = run_training(config, run_dir)
    assert result["status"] == "done"
    return run_dir / "best.pt"


@pytest.mark.slow
def test_undertrained_potential_has_5x_hot_force_error_and_breaks_earlier(cu_store, tmp_path):
    from scaling.evaluate.models import checkpoint_model
    from scaling.evaluate.runner import run_suite
    from scaling.evaluate.suite import load_suite

    converged = train(cu_store, tmp_path / "converged", max_epochs=300, patience=300)
    handful = train(cu_store, tmp_path / "handful", max_steps=3, max_epochs=1)
    suite = load_suite("emt", families=["hot_forces", "md_ramp"])
    good = run_suite(checkpoint_model(converged), suite)["metrics"]
    bad_document = run_suite(checkpoint_model(handful), suite)
    bad = bad_document["metrics"]
    assert bad["hot_force_mae_ev_a"] >= 5 * good["hot_force_mae_ev_a"], (bad, good)
    assert bad["md_failure_temperature_k"] < suite.ramp_top_k  # it breaks ...
    assert bad["md_failure_temperature_k"] <= good["md_failure_temperature_k"], (bad, good)  # ... no later
    assert all(row["broke"] and row["reason"] for row in bad_document["details"]["md_ramp"])


SPEC = """name: evalkill
dataset:
  emt: {n: 40, seed: 0, elements: [Cu]}
  cutoff: 4.0
split: {val_fraction: 0.15, test_fraction: 0.15, seed: 0, sampler: random}
axes:
  train_size: [10, 20]
  params: [400]
  arch: [twobody]
  seed: [0]
training: {max_epochs: 3, batch_size: 4, patience: 100, checkpoint_every_steps: 3}
evaluation:
  suite: emt-light
  families: [hot_forces, md_ramp, nve]
  settings: {ramp_steps: 200}
executor:
  kind: local
  local: {max_parallel: 2, device: cpu}
"""


def evaluating(folder: RunFolder) -> list[str]:
    """Cells whose training is done while their evaluation stage is under way."""
    cells = []
    for cell_id in folder.cell_ids():
        cell_dir = folder.cell_dir(cell_id)
        result = folder.read_result(cell_id) or {}
        if result.get("status") == "done" and (cell_dir / "evaluation.todo").exists():
            cells.append(cell_id)
    return cells


@pytest.mark.slow
def test_sweep_killed_during_evaluation_resumes_without_retraining(tmp_path):
    seed = int(os.environ.get("SCALING_KILL_SEED", random.randrange(1_000_000)))
    delay = random.Random(seed).uniform(0.0, 1.0)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SPEC)
    run_dir = tmp_path / "run"
    folder = RunFolder(run_dir)
    command = [sys.executable, "-m", "scaling.cli", "-q", "sweep", "run", str(spec_path), "--out", str(run_dir)]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while not (folder.exists() and evaluating(folder)):
        assert driver.poll() is None, f"driver ended before any evaluation: {driver.stderr.read().decode()}"
        assert time.time() < deadline, "no cell reached its evaluation within 10 minutes"
        time.sleep(0.05)
    time.sleep(delay)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    in_evaluation = evaluating(folder)  # trained before the kill: must not train again
    killed = status_once_workers_are_gone(run_dir)
    interrupted = [c["cell_id"] for c in killed["cells"] if c["status"] != "done"]
    context = f"(kill seed {seed}, delay {delay:.2f} s, unfinished: {interrupted}, evaluating: {in_evaluation})"
    assert killed["counts"]["running"] == 0 and in_evaluation and set(in_evaluation) <= set(interrupted), context

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert sweep_status(run_dir)["counts"] == {"done": 2, "running": 0, "pending": 0, "failed": 0}, context
    for cell_id in folder.cell_ids():
        cell_dir = folder.cell_dir(cell_id)
        attempts = folder.read_attempts(cell_id)
        starts = [a for a in attempts if a.get("event") == "first_step"]
        if cell_id in in_evaluation:
            assert len(starts) == 1, f"{cell_id} trained again after its evaluation was killed {context}"
        # a cell killed while training resumed from its checkpoint, never from scratch
        assert all(a["resumed"] for a in attempts[1:] if "event" not in a), f"{cell_id} {context}"
        result = json.loads((cell_dir / "result.json").read_text())
        evaluation = json.loads((cell_dir / "evaluation.json").read_text())
        assert result["evaluation"]["metrics"] == evaluation["metrics"]
        assert not (cell_dir / "evaluation.todo").exists()
    table = collect(run_dir, coverage=False)
    for column in ("hot_force_mae_ev_a", "force_softening", "md_failure_temperature_k", "nve_drift_mev_atom_ps",
                   "eval_seconds"):
        assert np.isfinite(table[column]).all(), (column, context)
    assert yaml.safe_load(spec_path.read_text())["evaluation"]["suite"] == "emt-light"
