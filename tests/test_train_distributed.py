"""Data-parallel training (`devices: K`, real gloo processes): the K-process trajectory is the 1-process one, a killed
K-process run resumes bitwise, torchrun launches it, and the training step reads nothing back from the device."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from models_helpers import emt_run_data

from scaling.data.emt import generate
from scaling.data.io import write_extxyz
from scaling.models.potential import ModelConfig, Potential
from scaling.train import TrainConfig, run_training
from scaling.train.checkpoint import load
from scaling.train.losses import LossSettings

SRC = Path(__file__).resolve().parents[1] / "src"


def config(**overrides) -> TrainConfig:
    values = dict(params=3000, arch="twobody", max_epochs=4, max_steps=20, batch_size=5, seed=7, warmup_steps=5,
                  threads=1, device="cpu", checkpoint_every_steps=1)
    values.update(overrides)
    return TrainConfig(**values)


def weights_per_step(cfg: TrainConfig, run_dir: Path, data) -> dict[int, dict]:
    """The weights after each step whose checkpoint is written before on_step sees it (mid-epoch steps)."""
    states = {}

    def record(step: int) -> None:
        saved = load(run_dir / "checkpoint.pt")
        if saved["progress"]["step"] == step:
            states[step] = saved["model"]

    run_training(cfg, run_dir, data=data, on_step=record)
    return states


def training_loss(state: dict, model_config: dict, data) -> float:
    from scaling.train.loop import evaluate

    model = Potential(ModelConfig.from_dict(model_config))
    model.load_state_dict(state)
    return evaluate(model, data.train, 64, torch.device("cpu"), LossSettings()).loss(LossSettings())


def test_two_processes_follow_the_one_process_trajectory(tmp_path):
    data = emt_run_data(n_train=23)  # 5 steps per epoch, the last batch of 3 split 2 + 1
    one = weights_per_step(config(), tmp_path / "one", data)
    two = weights_per_step(config(devices=2), tmp_path / "two", data)
    assert one.keys() == two.keys() and len(one) >= 15
    model_config = load(tmp_path / "one" / "checkpoint.pt")["model_config"]
    for step in sorted(one):
        a, b = training_loss(one[step], model_config, data), training_loss(two[step], model_config, data)
        assert b == pytest.approx(a, rel=1e-5), step
    first = training_loss(one[min(one)], model_config, data)
    assert training_loss(one[max(one)], model_config, data) < first  # it did train
    metrics = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [m["train_loss"] for m in metrics] == pytest.approx([m["train_loss"] for m in reference], rel=1e-5)


def test_devices_is_part_of_the_run_identity(tmp_path):
    from scaling.errors import InputError

    data = emt_run_data()
    run_training(config(max_steps=2), tmp_path, data=data)
    with pytest.raises(InputError, match="devices 1 -> 2"):
        run_training(config(max_steps=2, devices=2), tmp_path, data=data)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from scaling.cli import main

    folder = tmp_path_factory.mktemp("emt")
    write_extxyz(generate(40, seed=1, elements=("Al", "Cu"), workers=1), folder / "emt.extxyz")
    assert main(["-q", "data", "build", str(folder / "emt.extxyz"), "--cutoff", "4.5", "--out", str(folder / "store")]) == 0
    return folder / "store"


def train_command(store: Path, out: Path, *extra: str) -> list[str]:
    return ["-m", "scaling.cli", "-q", "train", "--data", str(store), "--params", "3000", "--seed", "3",
            "--batch-size", "4", "--max-epochs", "4", "--device", "cpu", "--threads", "1",
            "--set", "checkpoint_every_steps=2", "--set", "warmup_steps=3", "--out", str(out), *extra]


def environment() -> dict:
    return {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def assert_bitwise_equal(a: Path, b: Path) -> None:
    first, second = load(a / "checkpoint.pt")["model"], load(b / "checkpoint.pt")["model"]
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    assert json.loads((a / "result.json").read_text())["val_loss"] == json.loads((b / "result.json").read_text())[
        "val_loss"]


@pytest.mark.slow
def test_killed_two_process_run_resumes_bitwise(store, tmp_path):
    env = environment()
    subprocess.run([sys.executable, *train_command(store, tmp_path / "straight", "--devices", "2")], check=True,
                   env=env)
    victim = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, *train_command(store, victim, "--devices", "2")], env=env,
                               start_new_session=True)  # its own process group: rank 0 and the rank it spawned
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        saved = victim / "checkpoint.pt"
        if saved.exists() and load(saved)["progress"]["step"] >= 9:  # mid-run: 8 steps per epoch, 32 in all
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and not (victim / "result.json").exists()
    subprocess.run([sys.executable, *train_command(store, victim, "--devices", "2")], check=True, env=env)
    assert_bitwise_equal(tmp_path / "straight", victim)


@pytest.mark.slow
def test_torchrun_launch_trains_like_the_spawned_run(store, tmp_path):
    env = environment()
    subprocess.run([sys.executable, *train_command(store, tmp_path / "spawned", "--devices", "2")], check=True,
                   env=env)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    *train_command(store, tmp_path / "torchrun", "--devices", "2")], check=True, env=env)
    result = json.loads((tmp_path / "torchrun" / "result.json").read_text())
    assert result["status"] == "done" and result["epochs"] == 4
    assert_bitwise_equal(tmp_path / "spawned", tmp_path / "torchrun")  # the same ranks, however launched
