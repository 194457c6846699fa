"""Sweeps on real data layouts (issue 14 item 5): a prebuilt graph store as the dataset, and a separate test set
(`dataset.test_path`, a file or a store) whose structures are the test set while the split makes only validation."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import yaml

from scaling.errors import InputError
from scaling.sweep import RunFolder, collect, load_spec, run_sweep

from sweep_helpers import snapshot


def cli(*args):
    return subprocess.run([sys.executable, "-m", "scaling.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "CI": "1"})


def spec_for(dataset, train_size=8, params=560):
    return {
        "name": "stores",
        "dataset": dataset,
        "split": {"val_fraction": 0.15, "test_fraction": 0.15},
        "axes": {"train_size": [train_size], "params": [params], "arch": ["twobody"], "seed": [0]},
        "training": {"max_epochs": 1, "batch_size": 4, "eval_batch_size": 32, "warmup_steps": 2},
        "executor": "inline",
    }


@pytest.fixture(scope="module")
def emt_files(tmp_path_factory):
    """A 40-structure pool built into a store with `scaling data build`, and a 12-structure test file."""
    root = tmp_path_factory.mktemp("data")
    assert cli("data", "emt", "--n", 40, "--seed", 2, "--out", root / "pool.extxyz").returncode == 0
    assert cli("data", "emt", "--n", 12, "--seed", 3, "--out", root / "test.extxyz").returncode == 0
    assert cli("data", "build", root / "pool.extxyz", "--cutoff", 4.0, "--out", root / "store").returncode == 0
    return root


def test_a_prebuilt_store_and_a_separate_test_file(emt_files, tmp_path):
    spec_path = tmp_path / "spec.yaml"  # relative paths are taken from the spec's folder
    os.symlink(emt_files, tmp_path / "data")
    spec_path.write_text(yaml.safe_dump(spec_for({"path": "data/store", "test_path": "data/test.extxyz",
                                                  "cutoff": 4.0})))
    store_before = snapshot(emt_files / "store")
    run = cli("sweep", "run", spec_path, "--out", tmp_path / "run")
    assert run.returncode == 0, run.stderr
    assert "store.partial" not in run.stderr  # logs name the store's real place
    folder = RunFolder(tmp_path / "run")
    test_store = folder.data_dir / "test_store"
    assert json.loads((test_store / "manifest.json").read_text())["n_structures"] == 12
    (split_file,) = (folder.data_dir / "store" / "splits").iterdir()
    assert split_file.name == "val0.15-test0-seed0.npz"  # the split makes only the validation set
    (cell_id,) = folder.cell_ids()
    assert json.loads((folder.cell_dir(cell_id) / "config.json").read_text())["test_store"] == str(test_store)
    row = collect(folder.path, coverage=False).iloc[0]
    assert row["status"] == "done" and math.isfinite(row["test_force_mae"])
    assert snapshot(emt_files / "store") == store_before  # the user's store is read, never written
    assert load_spec(spec_path).dataset.test_path == str((emt_files / "test.extxyz").resolve())


def test_a_store_whose_cutoff_differs_is_refused_before_writing(emt_files, tmp_path):
    spec = load_spec_dict(spec_for({"path": str(emt_files / "store"), "cutoff": 5.0}))
    with pytest.raises(InputError, match=r"`dataset.cutoff` = 5.0: the store .* was built with cutoff 4 A"):
        run_sweep(spec, tmp_path / "run")
    spec = load_spec_dict(spec_for({"path": str(emt_files), "cutoff": 4.0}))  # a folder that is not a store
    with pytest.raises(InputError, match=r"`dataset.path` = .*: a directory but not a graph store"):
        run_sweep(spec, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def load_spec_dict(data):
    from scaling.sweep import parse_spec

    return parse_spec(data)


@pytest.mark.slow
def test_mlearn_si_store_with_its_own_test_file(reference_data, tmp_path):
    """mlearn Si: the training JSON built into a store, Si_test.json as the test set (one short cell)."""
    mlearn = reference_data / "mlearn"
    assert cli("data", "build", mlearn / "Si_training.json", "--cutoff", 5.0, "--out", tmp_path / "si").returncode == 0
    spec_path = tmp_path / "si.yaml"
    spec_path.write_text(yaml.safe_dump(spec_for({"path": str(tmp_path / "si"),
                                                  "test_path": str(mlearn / "Si_test.json"), "cutoff": 5.0},
                                                 train_size=40, params=2000)))
    run = cli("sweep", "run", spec_path, "--out", tmp_path / "run")
    assert run.returncode == 0, run.stderr
    folder = RunFolder(tmp_path / "run")
    n_test = json.loads((folder.data_dir / "test_store" / "manifest.json").read_text())["n_structures"]
    n_file = len(json.loads((mlearn / "Si_test.json").read_text()))
    assert n_test == n_file
    row = collect(folder.path, coverage=False).iloc[0]
    assert row["status"] == "done" and math.isfinite(row["test_energy_mae"])
