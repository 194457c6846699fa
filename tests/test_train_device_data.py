"""The training set on the device (`data_on_device`): its batches equal the store's field by field, and a run that
gathers its batches there, prefetched or not, ends with the very weights of a run that slices the store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scaling.cli import main
from scaling.data.emt import generate
from scaling.data.io import write_extxyz
from scaling.train import TrainConfig, run_training
from scaling.train.batches import label_counts
from scaling.train.checkpoint import load
from scaling.train.data import StoreSet
from scaling.train.device_data import DeviceSet
from scaling.train.losses import LabelCounts


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("emt")
    write_extxyz(generate(30, seed=2, elements=("Al", "Cu"), workers=1), folder / "emt.extxyz")
    assert main(["-q", "data", "build", str(folder / "emt.extxyz"), "--cutoff", "4.5", "--out", str(folder / "store")]) == 0
    return folder / "store"


def test_device_batches_equal_store_batches(store):
    from scaling.data.store import GraphStore

    source = StoreSet(GraphStore(store), np.arange(3, 27))
    on_device = DeviceSet(source, torch.device("cpu"))
    assert len(on_device) == len(source)
    for positions in ([5, 0, 17], [23], list(range(24))[::-1]):
        expected, got = source.batch(positions), on_device.batch(positions)
        assert set(expected.keys()) == set(got.keys())
        for key in expected.keys():
            assert torch.equal(expected[key], got[key]), key
        assert torch.equal(expected.ptr, got.ptr) and got.num_graphs == len(positions)
        assert on_device.label_counts(positions) == label_counts(source, np.array(positions)) == LabelCounts.of(
            expected)


def test_run_on_device_data_ends_with_the_same_weights(store, tmp_path):
    def final(run_dir, **overrides):
        config = TrainConfig(store=str(store), params=2000, max_epochs=2, batch_size=4, seed=1, threads=1,
                             device="cpu", warmup_steps=2, **overrides)
        assert run_training(config, tmp_path / run_dir)["status"] == "done"
        return load(tmp_path / run_dir / "checkpoint.pt")["model"]

    sliced = final("store", prefetch=0)
    for name, overrides in {"device": dict(data_on_device=True, prefetch=0),
                            "device-prefetched": dict(data_on_device=True, prefetch=2)}.items():
        weights = final(name, **overrides)
        for key in sliced:
            assert torch.equal(sliced[key], weights[key]), (name, key)
