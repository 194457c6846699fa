"""Neighbour lists against ase.neighborlist, and the graph store's Data/Batch against docs/data.md."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc100, fcc111, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list
from torch_geometric.data import Batch

from scaling.data.emt import generate
from scaling.data.graphs import neighbour_list
from scaling.data.store import GraphStore, build_store


def _random_triclinic(seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(3.0, 7.0, 3)) + np.triu(rng.uniform(-1.5, 1.5, (3, 3)), 1)
    n = int(rng.integers(2, 9))
    atoms = Atoms("Cu" * n, cell=cell, pbc=True, scaled_positions=rng.random((n, 3)))
    return atoms


CASES = {
    "triclinic-0": _random_triclinic(0),
    "triclinic-1": _random_triclinic(1),
    "triclinic-2": _random_triclinic(2),
    "small-cell": bulk("Cu", "fcc", a=3.6),  # one atom, cell far below twice the cutoff
    "small-rattled": bulk("Al", "fcc", a=4.05, cubic=True),
    "slab100": fcc100("Pt", size=(2, 2, 4), vacuum=6.0),
    "slab111": fcc111("Au", size=(2, 3, 3), vacuum=4.0),
    "molecule": molecule("CH3CH2OH"),
    "mixed-pbc": Atoms("Ni4", cell=[4.0, 3.0, 20.0], pbc=[True, False, True],
                       positions=[[0, 0, 0], [1.9, 0.5, 1.0], [0.5, 2.5, 3.0], [3.1, 1.0, 18.5]]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("cutoff", [3.0, 5.0])
def test_neighbour_list_equals_ase(name, cutoff):
    atoms = CASES[name].copy()
    atoms.rattle(0.05, seed=7)
    edge_index, shifts = neighbour_list(atoms.positions, atoms.cell[:], atoms.pbc, cutoff)
    i, j, s = ase_neighbor_list("ijS", atoms, cutoff)
    ours = sorted(zip(edge_index[1].tolist(), edge_index[0].tolist(), map(tuple, shifts.tolist())))
    theirs = sorted(zip(i.tolist(), j.tolist(), map(tuple, s.tolist())))
    assert ours == theirs
    assert len(ours) > 0


@pytest.fixture(scope="module")
def emt_store(tmp_path_factory):
    structures = generate(25, seed=11, workers=1)
    path = tmp_path_factory.mktemp("store") / "emt"
    build_store(None, path, cutoff=4.5, structures=structures)
    return GraphStore(path), structures


def test_store_data_fields_follow_the_contract(emt_store):
    store, structures = emt_store
    assert len(store) == 25
    for i in (0, 7, 24):
        data, structure = store[i], structures[i]
        n = structure.n_atoms
        assert data.z.dtype == torch.long and data.z.shape == (n,)
        assert data.pos.dtype == torch.float32 and data.pos.shape == (n, 3)
        assert data.cell.shape == (1, 3, 3) and data.pbc.shape == (1, 3) and data.pbc.dtype == torch.bool
        assert data.edge_index.dtype == torch.long and data.edge_index.shape[0] == 2
        assert data.cell_shift.dtype == torch.float32 and data.cell_shift.shape == (data.edge_index.shape[1], 3)
        assert data.energy.shape == (1,) and data.energy.item() == pytest.approx(structure.energy, rel=1e-6)
        assert data.forces.shape == (n, 3) and data.stress.shape == (1, 3, 3)
        assert data.has_stress.item() == (structure.stress is not None)
        assert data.idx.item() == i
        j, c = data.edge_index
        vectors = data.pos[j] - data.pos[c] + data.cell_shift @ data.cell[0]
        assert vectors.norm(dim=1).max() <= store.cutoff + 1e-4
        atoms = structure.to_atoms()
        assert len(ase_neighbor_list("i", atoms, store.cutoff)) == data.edge_index.shape[1]


def test_store_is_memory_mapped_and_picklable(emt_store):
    store, _ = emt_store
    assert isinstance(store._pos, np.memmap) and isinstance(store._edge_index, np.memmap)
    clone = pickle.loads(pickle.dumps(store))
    assert len(pickle.dumps(store)) < 10_000
    assert torch.equal(clone[3].edge_index, store[3].edge_index)


def test_fast_batch_equals_pyg_collation(emt_store):
    store, _ = emt_store
    indices = [4, 0, 17, 9, 9, 23]
    fast, reference = store.batch(indices), Batch.from_data_list([store[i] for i in indices])
    assert fast.num_graphs == reference.num_graphs == 6
    for key in reference.keys():
        assert torch.equal(fast[key], reference[key]), key
    assert torch.equal(fast.to_data_list()[2].edge_index, store[17].edge_index)


def test_batches_are_read_without_the_memory_maps(tmp_path, emt_store):
    """Batches come from positional reads, not the maps (a process drawing random batches from a store of millions
    keeps no store pages mapped): with every mapped array gone, a batch still equals the one read through them."""
    store, _ = emt_store
    indices = [4, 0, 17, 9, 9, 23]
    expected = store.batch(indices)
    assert torch.equal(expected.pos, torch.from_numpy(np.asarray(store._pos[store.atom_rows(indices)])))
    assert torch.equal(expected.cell_shift, torch.from_numpy(store._cell_shift[store.edge_rows(indices)]).float())
    blind = GraphStore(store.path)
    for name in ("z", "pos", "forces", "cell", "pbc", "energy", "stress", "has_stress", "edge_index", "cell_shift"):
        setattr(blind, f"_{name}", None if name != "edge_index" else np.empty((2, blind._edge_index.shape[1]), bool))
    batch = blind.batch(indices)
    for key in expected.keys():
        assert torch.equal(batch[key], expected[key]), key


def test_training_view_batches_an_epoch_of_its_subset(emt_store):
    """What training does: a StoreSet over a subset, batched along epoch_order, sees each structure once."""
    from scaling.train.data import StoreSet
    from scaling.train.loop import epoch_order

    store, _ = emt_store
    subset = np.array([3, 11, 0, 24, 7, 19, 5])
    view = StoreSet(store, subset)
    order = epoch_order(len(view), seed=1, epoch=2)
    np.testing.assert_array_equal(order, epoch_order(len(view), seed=1, epoch=2))
    batches = [view.batch(order[k : k + 3]) for k in range(0, len(order), 3)]
    assert [b.num_graphs for b in batches] == [3, 3, 1]
    assert np.concatenate([b.idx.numpy() for b in batches]).tolist() == subset[order].tolist()
    assert torch.equal(batches[0].pos, store.batch(subset[order[:3]]).pos)


def test_other_readers_get_flat_rows_read_only(emt_store):
    """Coverage and provenance read the store through these accessors (the format has one reader)."""
    from scaling.data.store import ranges

    store, structures = emt_store
    assert ranges(np.array([5, 0, 9]), np.array([2, 3, 0])).tolist() == [5, 6, 0, 1, 2]
    rows = store.atom_rows([5, 2])
    np.testing.assert_array_equal(store.array("z")[rows], np.concatenate([structures[5].numbers, structures[2].numbers]))
    np.testing.assert_allclose(store.array("pos")[store.atom_rows([7])], structures[7].positions, atol=1e-5)
    edges = store.edge_rows([7, 1])
    assert len(edges) == store[7].edge_index.shape[1] + store[1].edge_index.shape[1]
    np.testing.assert_array_equal(store.array("edge_index")[:, edges[: store[7].edge_index.shape[1]]], store[7].edge_index)
    with pytest.raises(ValueError, match="read-only"):
        store.array("pos")[0, 0] = 1.0
    assert not store.atom_ptr.flags.writeable and not store.edge_ptr.flags.writeable
    with pytest.raises(KeyError, match="manifest"):
        store.array("manifest")
    assert store.provenance_group(3)["calculator"] == "EMT"
    assert store.provenance_group(3) is store.manifest["provenance_groups"][int(store.group[3])]


def test_store_metadata(emt_store):
    store, structures = emt_store
    manifest = store.manifest
    assert manifest["n_structures"] == 25
    assert manifest["n_atoms"] == sum(s.n_atoms for s in structures)
    assert manifest["cutoff"] == 4.5
    assert manifest["provenance_groups"][0]["calculator"] == "EMT"
    assert store.composition([0]).sum() == structures[0].n_atoms
    np.testing.assert_array_equal(store.numbers(5), structures[5].numbers)
    # frames of one EMT trajectory share a trajectory id
    assert store.trajectory[0] == store.trajectory[4] != store.trajectory[5]
    assert not any(p.name.startswith(".") for p in store.path.parent.iterdir())
    plain = store.path.parent / "plain"
    plain.mkdir()
    assert store.path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # as readable as any new folder
    plain.rmdir()


def test_cached_store_builds_once(tmp_path, emt_store):
    from scaling.data.io import write_extxyz
    from scaling.data.store import cached_store

    _, structures = emt_store
    source = tmp_path / "pool.extxyz"
    write_extxyz(structures[:6], source)
    first = cached_store(source, 4.0, cache=tmp_path / "cache")
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert cached_store(source, 4.0, cache=tmp_path / "cache") == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp
    assert GraphStore(first).manifest["source_sha256"] and len(GraphStore(first)) == 6
    assert cached_store(source, 3.0, cache=tmp_path / "cache") != first
