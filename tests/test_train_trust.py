"""Trust in one training run: a run folder is reused only with its own settings, a checkpoint can hold no code
that runs, and bad settings are refused in one line before anything is written."""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil

import numpy as np
import pytest
import torch
from models_helpers import cli_built_store, emt_run_data

from scaling.cli import main
from scaling.data.emt import generate
from scaling.data.io import write_extxyz
from scaling.errors import CheckpointError
from scaling.train import TrainConfig, run_training
from scaling.train import checkpoint


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return cli_built_store(tmp_path_factory.mktemp("emt"))


def train_args(store, out, *extra):
    return ["-q", "train", "--data", str(store), "--train-size", "12", "--params", "2000", "--seed", "0",
            "--max-epochs", "1", "--max-steps", "2", "--batch-size", "4", "--device", "cpu", "--threads", "1",
            "--out", str(out), *extra]


def one_line_error(capsys, *needles) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


class Interrupt(Exception):
    pass


def interrupt_at(step_to_stop: int):
    def on_step(step: int) -> None:
        if step == step_to_stop:
            raise Interrupt
    return on_step


# -- a run folder is a function of its settings ---------------------------------------------------------------------
def test_finished_run_dir_refuses_other_settings_and_reports_its_own(store, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(store, out)) == 0
    result = (out / "result.json").read_text()
    assert main(train_args(store, out, "--arch", "threebody", "--lr", "0.001")) == 2
    one_line_error(capsys, str(out), "arch \"twobody\" -> \"threebody\"", "lr 0.002 -> 0.001")
    assert main(train_args(store, out, "--set", "force_weight=3")) == 2
    one_line_error(capsys, "force_weight 1.0 -> 3")
    assert (out / "result.json").read_text() == result
    # the same settings (execution knobs aside) report the finished result; a moved store counts by its content
    moved = tmp_path / "moved-store"
    shutil.copytree(store, moved)
    assert main(train_args(moved, out, "--threads", "2")) == 0
    assert (out / "result.json").read_text() == result


def test_killed_run_refuses_other_settings_and_resumes_with_its_own(store, tmp_path, capsys):
    out = tmp_path / "run"
    config = TrainConfig(store=str(store), train_size=12, params=2000, max_epochs=2, batch_size=4,
                         checkpoint_every_steps=1, device="cpu", threads=1)
    with pytest.raises(Interrupt):
        run_training(config, out, on_step=interrupt_at(2))
    assert (out / "checkpoint.pt").is_file() and not (out / "result.json").exists()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    args = ["-q", "train", "--data", str(store), "--params", "2000", "--max-epochs", "2", "--batch-size", "4",
            "--device", "cpu", "--set", "checkpoint_every_steps=1", "--out", str(out)]
    assert main([*args, "--train-size", "16", "--seed", "3"]) == 2
    one_line_error(capsys, "train_size 12 -> 16", "seed 0 -> 3")
    assert main([*args, "--train-size", "12", "--max-epochs", "3"]) == 2
    one_line_error(capsys, "max_epochs 2 -> 3")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # refused: nothing touched
    assert main([*args, "--train-size", "12"]) == 0
    assert json.loads((out / "result.json").read_text())["epochs"] == 2


def test_other_store_content_is_a_different_run(store, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(store, out)) == 0
    other = tmp_path / "other"
    write_extxyz(generate(24, seed=2, elements=("Al", "Cu"), workers=1), tmp_path / "other.extxyz")
    assert main(["-q", "data", "build", str(tmp_path / "other.extxyz"), "--cutoff", "4.5", "--out", str(other)]) == 0
    assert main(train_args(other, out)) == 2
    one_line_error(capsys, "store [24 structures, cutoff 4.5, source sha256")


def test_existing_file_as_run_dir_is_refused(store, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    assert main(train_args(store, target)) == 2
    one_line_error(capsys, str(target), "not a folder")
    assert target.read_text() == "mine\n"


# -- checkpoints: plain data, weights_only loading -------------------------------------------------------------------
class Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_evil(path, marker, zipped: bool) -> None:
    """A checkpoint whose unpickling would run a shell command: torch's zip format, or a bare pickle."""
    payload = {"model": {}, "progress": {"epoch": 1}, "model_config": {}, "x": Evil(marker)}
    if zipped:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))


@pytest.mark.parametrize("zipped", [True, False])
def test_malicious_checkpoint_is_refused_and_not_run(tmp_path, zipped):
    from scaling.calculator import ScalingCalculator

    marker = tmp_path / "pwned"
    evil = tmp_path / "checkpoint.pt"
    write_evil(evil, marker, zipped)
    with pytest.raises(CheckpointError, match="checkpoint.pt: not a readable checkpoint.*nothing in it was run"):
        checkpoint.completed_epochs(evil)  # what a sweep cell reads first
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        ScalingCalculator(evil)
    assert not marker.exists()


def test_malicious_checkpoint_in_a_run_dir_is_refused_by_train(store, tmp_path, capsys):
    out, marker = tmp_path / "run", tmp_path / "pwned"
    assert main(train_args(store, out)) == 0
    (out / "result.json").unlink()
    write_evil(out / "checkpoint.pt", marker, zipped=True)
    assert main(train_args(store, out)) == 2
    one_line_error(capsys, "checkpoint.pt: not a readable checkpoint")
    (out / "config.json").unlink()  # then the settings are read from the checkpoint: refused the same way
    assert main(train_args(store, out)) == 2
    one_line_error(capsys, "checkpoint.pt: not a readable checkpoint")
    assert not marker.exists()


def test_malicious_best_checkpoint_is_refused_when_the_run_finishes(tmp_path):
    data, marker = emt_run_data(), tmp_path / "pwned"
    # lr 1e-20: epoch 2 cannot beat epoch 1, so best.pt stays the file planted below
    config = TrainConfig(params=2000, max_epochs=2, batch_size=4, checkpoint_every_steps=100, device="cpu",
                         threads=1, warmup_steps=2, lr=1e-20, weight_decay=0.0)
    with pytest.raises(Interrupt):
        run_training(config, tmp_path / "run", data=data, on_step=interrupt_at(8))  # 6 steps per epoch
    write_evil(tmp_path / "run" / "best.pt", marker, zipped=True)
    with pytest.raises(CheckpointError, match="best.pt"):
        run_training(config, tmp_path / "run", data=data)
    assert not marker.exists()


def test_checkpoint_of_the_old_format_gives_one_clear_line(tmp_path):
    old = tmp_path / "checkpoint.pt"
    torch.save({"progress": {"epoch": 1}, "rng": {"numpy": np.random.get_state()}}, old)
    with pytest.raises(CheckpointError, match="older scaling version"):
        checkpoint.completed_epochs(old)
    (tmp_path / "torn.pt").write_bytes(old.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="torn.pt: not a readable checkpoint"):
        checkpoint.load(tmp_path / "torn.pt")


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    checkpoint.save(tmp_path / "c.pt", {"rng": checkpoint.rng_state()})
    expected = (torch.rand(3), np.random.rand(3), np.random.randn(3), random.random(), random.gauss(0, 1))
    checkpoint.restore_rng_state(checkpoint.load(tmp_path / "c.pt")["rng"])
    again = (torch.rand(3), np.random.rand(3), np.random.randn(3), random.random(), random.gauss(0, 1))
    assert torch.equal(expected[0], again[0])
    assert np.array_equal(expected[1], again[1]) and np.array_equal(expected[2], again[2])
    assert expected[3:] == again[3:]


# -- settings refused in one line, before anything is written ---------------------------------------------------------
@pytest.mark.parametrize("extra, needle", [
    (["--set", "force_weight=abc"], "force_weight='abc'"),
    (["--set", "force_weight=!!python/object/apply:os.system ['touch pwned']"], "not a plain YAML value"),
    (["--threads", "-4"], "threads=-4: must be positive"),
    (["--lr", "inf"], "lr=inf: must be a finite number"),
    (["--set", "grad_clip=.nan"], "grad_clip=nan: must be a finite number"),
    (["--width", "8"], "width=8: give params"),
    (["--max-seconds", "0"], "max_seconds=0.0: must be positive"),
    (["--max-seconds", "-1"], "max_seconds=-1.0: must be positive"),
    (["--set", "max_epochs=2.5"], "max_epochs=2.5: input should be a valid integer"),
    (["--set", "max_epochs=true"], "max_epochs=True: input should be a valid integer"),
])
def test_bad_settings_are_refused_before_the_run_dir_exists(store, tmp_path, capsys, monkeypatch, extra, needle):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(train_args(store, out, *extra)) == 2
    one_line_error(capsys, needle)
    assert not out.exists() and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("torn", ['{"n_params": 20', '{"status": "done"}'])
def test_torn_or_incomplete_result_is_finished_again(store, tmp_path, capsys, torn):
    out = tmp_path / "run"
    assert main(train_args(store, out)) == 0
    result = json.loads((out / "result.json").read_text())
    (out / "result.json").write_text(torn)
    assert main(train_args(store, out)) == 0
    again = json.loads((out / "result.json").read_text())
    for key in ("n_params", "val_loss", "test_force_mae", "epochs", "best_epoch", "steps", "status"):
        assert again[key] == result[key]
