"""Environment descriptors, the coverage codebook and the "coverage" sampler on a small EMT store."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from scaling.data.coverage import (
    CodebookSettings,
    atom_descriptors,
    coverage_sampler,
    load_codebook,
    subset_coverage,
)
from scaling.data.emt import generate
from scaling.data.store import build_store
from scaling.data.structures import Structure
from scaling.data.subsets import load_split, nested_subsets
from scaling.errors import InputError

SIZES = [5, 10, 20, 40, 80]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("coverage") / "store"
    build_store(None, path, cutoff=5.0, structures=generate(160, seed=3, workers=1))
    return path


def _structure(atoms, id: str) -> Structure:
    n = len(atoms)
    return Structure.from_atoms(atoms, energy=0.0, forces=np.zeros((n, 3)), provenance={"calculator": "test"}, id=id)


def test_descriptors_are_rotation_and_permutation_invariant(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.numbers[[1, 6, 11]] = 13  # Al
    atoms.rattle(0.08, seed=1)
    rotated = atoms.copy()
    rotated.rotate(37, "x", rotate_cell=True)
    rotated.rotate(71, "z", rotate_cell=True)
    permuted = atoms[np.random.default_rng(0).permutation(len(atoms))]
    path = build_store(None, tmp_path / "s", structures=[_structure(a, str(k)) for k, a in enumerate((atoms, rotated, permuted))])
    described = atom_descriptors(path, n_radial=5)
    n = len(atoms)
    assert described.features.shape == (3 * n, 2 * 5 * 3)  # 2 neighbour elements x 5 radial x (G, l=1, l=2)
    first, turned, shuffled = (described.features[k * n : (k + 1) * n] for k in range(3))
    np.testing.assert_allclose(turned, first, atol=1e-4)
    inverse = np.argsort(np.random.default_rng(0).permutation(n))
    np.testing.assert_allclose(shuffled[inverse], first, atol=1e-4)
    assert not np.allclose(first[1], first[0])  # Al and Cu centres, and rattled sites, differ


def test_codebook_is_cached_next_to_the_store(store):
    settings = CodebookSettings(n_clusters=64, seed=1)
    first = load_codebook(store, settings)
    cached = list((store / "coverage").glob("codebook-*.npz"))
    assert len(cached) == 1
    again = load_codebook(store, settings)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert 10 < first.n_clusters <= 64 + 8
    assert first.coverage(np.arange(len(first.atom_ptr) - 1)).fraction == 1.0


def test_coverage_grows_with_nested_random_subsets(store):
    subsets = nested_subsets(store, SIZES, seed=0, sampler="random")
    values = [subset_coverage(store, subsets[d]) for d in SIZES]
    weighted = [subset_coverage(store, subsets[d], weighted=True) for d in SIZES]
    assert all(a <= b for a, b in zip(values, values[1:])) and values[-1] > values[0]
    assert all(a <= b for a, b in zip(weighted, weighted[1:]))
    assert all(w >= v for v, w in zip(values, weighted))  # frequent clusters are reached first


def test_coverage_sampler_is_nested_deterministic_and_beats_random(store):
    split = load_split(store)
    drawn = coverage_sampler(split.train, SIZES, 0, store)
    assert [len(d) for d in drawn] == SIZES
    for small, large in zip(drawn, drawn[1:]):
        assert np.isin(small, large).all()
    assert all(np.isin(d, split.train).all() for d in drawn)
    alone = coverage_sampler(split.train, [SIZES[2]], 0, store)[0]  # a subset depends only on its own size
    np.testing.assert_array_equal(alone, drawn[2])
    via_subsets = nested_subsets(store, SIZES, seed=0, sampler="coverage")
    np.testing.assert_array_equal(via_subsets[SIZES[-1]], drawn[-1])
    for size in SIZES[:4]:
        ours = subset_coverage(store, via_subsets[size])
        random = np.mean([subset_coverage(store, nested_subsets(store, [size], s)[size]) for s in range(3)])
        assert ours > random, (size, ours, random)


def test_sizes_beyond_the_pool_are_refused(store):
    with pytest.raises(InputError, match="exceeds the training pool"):
        coverage_sampler(np.arange(10), [11], 0, store)
    with pytest.raises(InputError, match="not a graph store"):
        subset_coverage(store.parent, [0])
