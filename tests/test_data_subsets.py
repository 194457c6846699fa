"""Fixed splits by trajectory, nested training subsets stored as index files, pluggable samplers."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.data.emt import generate
from scaling.data.store import GraphStore, build_store
from scaling.data.subsets import load_split, nested_subsets, register_sampler, training_subset
from scaling.errors import InputError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("subsets") / "store"
    build_store(None, path, cutoff=4.0, structures=generate(60, seed=3, workers=1))
    return GraphStore(path)


def test_split_is_fixed_disjoint_and_keeps_trajectories_together(store):
    split = load_split(store, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert (store.path / "splits" / f"{split.name}.npz").is_file()
    parts = [split.train, split.val, split.test]
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(store)))
    assert 12 <= len(split.test) <= 16 and 6 <= len(split.val) <= 10 and len(split.train) >= 30
    sides = [set(store.trajectory[p].tolist()) for p in parts]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    again = load_split(GraphStore(store.path), val_fraction=0.1, test_fraction=0.2, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(parts, [again.train, again.val, again.test]))
    other = load_split(store, val_fraction=0.1, test_fraction=0.2, seed=1)
    assert not np.array_equal(other.test, split.test)


def test_subsets_are_nested_stored_and_reproducible(store):
    split = load_split(store)
    subsets = nested_subsets(store, [30, 10, 20], seed=7)
    assert [len(subsets[d]) for d in (10, 20, 30)] == [10, 20, 30]
    assert set(subsets[10]) <= set(subsets[20]) <= set(subsets[30]) <= set(split.train.tolist())
    assert (store.path / "subsets" / split.name / "random-seed7-D20.npy").is_file()
    assert np.array_equal(training_subset(store, 20, seed=7), subsets[20])
    assert set(training_subset(store, 25, seed=7)) >= set(subsets[20])  # a later size nests too
    assert not np.array_equal(training_subset(store, 20, seed=8), subsets[20])
    assert np.array_equal(training_subset(store, None, seed=0), split.train)


def test_subset_larger_than_pool_refused(store):
    with pytest.raises(InputError, match="larger than the training pool"):
        training_subset(store, 10_000, seed=0)
    assert not (store.path / "subsets" / load_split(store).name / "random-seed0-D10000.npy").exists()


def test_a_second_sampler_plugs_in(store):
    def smallest_first(pool, sizes, seed, store):
        order = np.asarray(pool)[np.argsort(store.n_atoms(pool), kind="stable")]
        return [order[:size] for size in sizes]

    register_sampler("smallest", smallest_first)
    subset = training_subset(store, 5, seed=0, sampler="smallest")
    pool = load_split(store).train
    assert store.n_atoms(subset).max() <= np.sort(store.n_atoms(pool))[5]
    with pytest.raises(InputError, match="unknown sampler"):
        training_subset(store, 5, seed=0, sampler="nope")
