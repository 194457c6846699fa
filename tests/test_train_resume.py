"""Exact resume (an interrupt at a step, and a SIGKILLed training process), divergence, the run folder's files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from models_helpers import emt_run_data

from scaling.train import TrainConfig, run_training
from scaling.train.checkpoint import load

TESTS = Path(__file__).resolve().parent


def small_config(**overrides) -> TrainConfig:
    values = dict(params=3000, arch="threebody", max_epochs=3, batch_size=4, checkpoint_every_steps=4, seed=7,
                  warmup_steps=5, threads=1, device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


def final_weights(run_dir: Path) -> dict:
    return load(run_dir / "checkpoint.pt")["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-6, atol=1e-7, msg=key)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("scheduler,epoch_steps", [("cosine", None), ("plateau", None), ("cosine", 6)])
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, scheduler, epoch_steps):
    data = emt_run_data()
    config = small_config(scheduler=scheduler, epoch_steps=epoch_steps)
    straight = run_training(config, tmp_path / "straight", data=data)

    def interrupt(step: int) -> None:
        if step == 10:  # mid-epoch (6 steps per epoch), two steps after the step-8 checkpoint
            raise Interrupt

    with pytest.raises(Interrupt):
        run_training(config, tmp_path / "resumed", data=data, on_step=interrupt)
    assert load(tmp_path / "resumed" / "checkpoint.pt")["progress"]["step"] == 8
    resumed = run_training(config, tmp_path / "resumed", data=data)

    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "resumed"))
    for key in ("val_loss", "test_force_mae", "epochs", "best_epoch", "steps"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-6)
    straight_lines = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    resumed_lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["val_loss"] for line in resumed_lines] == pytest.approx(
        [json.loads(line)["val_loss"] for line in straight_lines], rel=1e-6)


def test_run_folder_contents_and_metrics(tmp_path):
    result = run_training(small_config(arch="twobody", max_epochs=2), tmp_path, data=emt_run_data())
    assert result["status"] == "done" and result["reason"] is None
    assert abs(result["n_params"] - 3000) <= 150
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "best.pt", "result.json"):
        assert (tmp_path / name).is_file()
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    for key in ("val_loss", "val_energy_mae_mev", "val_force_mae_mev", "val_stress_mae", "atoms_per_s", "lr"):
        assert lines[-1][key] > 0
    assert json.loads((tmp_path / "result.json").read_text()) == result
    assert result["test_energy_mae"] > 0 and result["test_force_mae"] > 0 and result["test_stress_mae"] > 0
    again = run_training(small_config(arch="twobody", max_epochs=2), tmp_path, data=emt_run_data())
    assert again == result  # a done run is reported, not retrained


def test_non_finite_loss_fails_with_reason(tmp_path):
    data = emt_run_data()
    data.train.graphs[5].energy = torch.tensor([float("nan")])
    result = run_training(small_config(max_epochs=2), tmp_path, data=data)
    assert result["status"] == "failed"
    assert "non-finite training loss" in result["reason"]
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "failed"


def test_early_stopping_and_max_steps(tmp_path):
    stopped = run_training(small_config(max_epochs=50, patience=1, lr=1e-9, warmup_steps=0), tmp_path / "a",
                           data=emt_run_data())
    assert stopped["epochs"] < 50 and stopped["epochs"] - stopped["best_epoch"] == 1
    capped = run_training(small_config(max_epochs=50, max_steps=9), tmp_path / "b", data=emt_run_data())
    assert capped["steps"] == 9 and capped["epochs"] == 2


TRAIN_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from models_helpers import emt_run_data
from scaling.train import TrainConfig, run_training
config = TrainConfig(params=3000, arch="twobody", max_epochs=6, batch_size=4, checkpoint_every_steps=3, seed=3,
                     warmup_steps=5, threads=1, device="cpu")
slow = float(sys.argv[2])
run_training(config, sys.argv[1], data=emt_run_data(), on_step=lambda step: time.sleep(slow))
"""


@pytest.mark.slow
def test_sigkilled_training_process_resumes_exactly(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT.format(tests=str(TESTS)))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run([sys.executable, str(script), str(tmp_path / "straight"), "0"], check=True, env=env)

    victim = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, str(script), str(victim), "0.05"], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (victim / "checkpoint.pt").exists() and load(victim / "checkpoint.pt")["progress"]["step"] >= 10:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (victim / "result.json").exists()
    subprocess.run([sys.executable, str(script), str(victim), "0"], check=True, env=env)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(victim))


def test_epoch_steps_make_epochs_of_that_many_steps_from_a_stream_of_passes(tmp_path):
    """An epoch of `epoch_steps` steps draws batches from consecutive shuffled passes over the subset: epochs no
    longer follow the subset's size, and every structure is drawn once per pass."""
    from scaling.train.loop import epoch_order

    n, samples = 7, 12
    stream = np.concatenate([epoch_order(n, 3, e, samples) for e in range(7)])  # 84 positions = 12 whole passes
    for q in range(len(stream) // n):
        np.testing.assert_array_equal(stream[q * n:(q + 1) * n], epoch_order(n, 3, q))
    result = run_training(small_config(arch="twobody", epoch_steps=5, max_epochs=4), tmp_path / "run",
                          data=emt_run_data())
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [5, 10, 15, 20]
    assert result["steps"] == 20 and result["epochs"] == 4
