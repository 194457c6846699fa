"""Kill test: the smoke sweep's driver and workers get SIGKILL (the whole process group) at a random moment during
training; running it again finishes every cell, none trained twice from scratch, nothing lost or corrupt."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sweep_helpers import status_once_workers_are_gone

from scaling.sweep import collect, sweep_status
from scaling.sweep.runfolder import RunFolder, read_jsonl

REPO = Path(__file__).resolve().parents[1]


def start_driver(spec: Path, run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scaling.cli", "-q", "sweep", "run", str(spec), "--out",
                             str(run_dir)], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def cells_that_trained(folder: RunFolder) -> set[str]:
    """Cells with at least one attempt that reached its first training step."""
    return {c for c in folder.cell_ids() if any(a.get("event") == "first_step" for a in folder.read_attempts(c))}


def start_smoke_sweep(tmp_path: Path) -> tuple[Path, Path, RunFolder, subprocess.Popen]:
    """Copy experiments/smoke.yaml, start its driver in a session of its own, and wait until a cell trains."""
    spec_path = tmp_path / "smoke.yaml"
    spec_path.write_text((REPO / "experiments" / "smoke.yaml").read_text())
    run_dir = tmp_path / "run"
    folder = RunFolder(run_dir)
    driver = start_driver(spec_path, run_dir)
    deadline = time.time() + 600
    while not (folder.exists() and cells_that_trained(folder)):
        assert driver.poll() is None, f"driver ended early: {driver.stderr.read().decode()}"
        assert time.time() < deadline, "no cell started training within 10 minutes"
        time.sleep(0.1)
    return spec_path, run_dir, folder, driver


def rerun_sweep(spec_path: Path, run_dir: Path) -> None:
    rerun = subprocess.run([sys.executable, "-m", "scaling.cli", "-q", "sweep", "run", str(spec_path), "--out",
                            str(run_dir)], capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr


@pytest.mark.slow
def test_sigkill_of_the_whole_sweep_then_resume(tmp_path):
    seed = int(os.environ.get("SCALING_KILL_SEED", random.randrange(1_000_000)))
    delay = random.Random(seed).uniform(0.0, 2.0)
    spec_path, run_dir, folder, driver = start_smoke_sweep(tmp_path)
    time.sleep(delay)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver's whole process group: driver and workers
    driver.wait()
    killed = status_once_workers_are_gone(run_dir)
    assert killed["counts"]["running"] == 0  # the kernel released every lock: nothing claims to run
    unfinished = [c["cell_id"] for c in killed["cells"] if c["status"] != "done"]
    started = cells_that_trained(folder)

    rerun_sweep(spec_path, run_dir)
    context = f"(kill seed {seed}, delay {delay:.2f} s, unfinished at kill: {unfinished})"

    spec = yaml.safe_load(spec_path.read_text())
    max_epochs = spec["training"]["max_epochs"]
    status = sweep_status(run_dir)
    assert status["counts"] == {"done": 4, "running": 0, "pending": 0, "failed": 0}, context
    for cell_id in folder.cell_ids():
        cell_dir = folder.cell_dir(cell_id)
        result = json.loads((cell_dir / "result.json").read_text())  # whole and parseable
        assert result["status"] == "done" and result["epochs"] == max_epochs, context
        epochs = [line["epoch"] for line in read_jsonl(cell_dir / "metrics.jsonl")]
        assert epochs == list(range(1, max_epochs + 1)), f"{cell_id}: epochs {epochs} {context}"
        starts = [a for a in folder.read_attempts(cell_id) if "event" not in a]
        trained = {a["attempt"] for a in folder.read_attempts(cell_id) if a.get("event") == "first_step"}
        for attempt in starts:
            if any(earlier in trained for earlier in range(1, attempt["attempt"])):
                assert attempt["resumed"], f"{cell_id}: attempt {attempt['attempt']} restarted from scratch {context}"
        if cell_id in unfinished and cell_id in started:
            assert len(starts) >= 2 and starts[-1]["resumed"], f"{cell_id} did not resume {context}"
    assert any(c in started for c in unfinished), f"the kill interrupted no training cell {context}"
    table = collect(run_dir, coverage=False)
    assert len(table) == 4 and table["cell_id"].is_unique and (table["status"] == "done").all()
    assert table["val_loss"].notna().all()


@pytest.mark.slow
def test_cancel_stops_the_driver_and_a_rerun_finishes(tmp_path):
    spec_path, run_dir, _, driver = start_smoke_sweep(tmp_path)
    cancel = subprocess.run([sys.executable, "-m", "scaling.cli", "sweep", "cancel", str(run_dir)],
                            capture_output=True, text=True, timeout=120)
    assert cancel.returncode == 0 and f"driver pid {driver.pid}" in cancel.stderr
    driver.wait(timeout=60)  # the driver stopped, and with it its workers
    status = sweep_status(run_dir)
    assert status["counts"]["running"] == 0 and status["counts"]["pending"] >= 1
    assert {c["reason"] for c in status["cells"] if c["status"] == "pending"} <= {"cancelled", None}
    assert "cancelled" in {c["reason"] for c in status["cells"]}
    rerun_sweep(spec_path, run_dir)
    assert sweep_status(run_dir)["counts"]["done"] == 4
