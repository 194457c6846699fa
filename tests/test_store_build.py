"""Parallel, chunked and sharded store builds: the same store, byte for byte, however it was built."""

from __future__ import annotations

import filecmp
import random

import numpy as np
import pytest
from ase.build import bulk

from scaling.cli import main
from scaling.data import build
from scaling.data.emt import emt_dataset
from scaling.data.io import read_structures, write_extxyz
from scaling.data.store import GraphStore

CUTOFF = "4.0"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """200 EMT structures (40 five-frame trajectories) in two provenance groups, so chunks of 32 split
    trajectories and a chunk may lack a group."""
    structures = read_structures(emt_dataset(200, seed=5, elements=("Al", "Cu", "Ni")))  # cached after one run
    for k, structure in enumerate(structures):
        if k >= 40 and k % 3 == 0:
            structure.provenance["settings"] = {"functional": "PBE"}
    path = tmp_path_factory.mktemp("src") / "pool.extxyz"
    write_extxyz(structures, path)
    return path


@pytest.fixture(scope="module")
def single(source):
    """The reference: one process, one chunk (what the builder wrote before chunking)."""
    out = source.parent / "single"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build, "CHUNK_SIZE", 10**9)
        assert main(["-q", "data", "build", str(source), "--cutoff", CUTOFF, "--out", str(out)]) == 0
    return out


def same_files(a, b) -> list[str]:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    return [name for name in names if not filecmp.cmp(a / name, b / name, shallow=False)]


@pytest.mark.parametrize("workers", [1, 2])
def test_chunked_build_equals_single_build(source, single, tmp_path, monkeypatch, workers):
    monkeypatch.setattr(build, "CHUNK_SIZE", 32)
    out = tmp_path / "store"
    assert main(["-q", "data", "build", str(source), "--cutoff", CUTOFF, "--workers", str(workers),
                 "--out", str(out)]) == 0
    assert same_files(out, single) == []
    store = GraphStore(out)
    assert len(store) == 200 and len(store.manifest["provenance_groups"]) == 2
    assert len(np.unique(store.trajectory)) == 40  # trajectories cut by chunk boundaries are joined again
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_shards_merged_equal_the_single_build(source, single, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(build, "CHUNK_SIZE", 16)
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    for i, shard in enumerate(shards):
        assert main(["-q", "data", "build", str(source), "--cutoff", CUTOFF, "--shard", f"{i}/3",
                     "--out", str(shard)]) == 0
    assert [len(GraphStore(s)) for s in shards] == [66, 67, 67]
    given = shards[:]
    random.Random(0).shuffle(given)
    assert main(["-q", "data", "merge", *map(str, given), "--out", str(tmp_path / "joined")]) == 0
    assert same_files(tmp_path / "joined", single) == []

    assert main(["data", "merge", str(shards[0]), str(shards[2]), "--out", str(tmp_path / "x")]) == 2
    assert "shard 1/3 missing" in capsys.readouterr().err
    assert main(["data", "merge", str(shards[0]), str(shards[1]), str(shards[1]), str(shards[2]),
                 "--out", str(tmp_path / "x")]) == 2
    assert "given twice" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("spoil, needle", [
    (lambda p: (p / "pos.npy").write_bytes((p / "pos.npy").read_bytes()[:100]), "pos.npy: not a readable array"),
    (lambda p: (p / "edge_ptr.npy").unlink(), "edge_ptr.npy: missing from the graph store"),
    (lambda p: (p / "manifest.json").write_text("{"), "manifest.json: not valid JSON"),
    (lambda p: (p / "trajectories.json").write_text("{}"), "trajectories.json: not a list"),
])
def test_a_broken_shard_is_named_in_one_line(source, tmp_path, capsys, spoil, needle):
    shards = [tmp_path / f"shard{i}" for i in range(2)]
    for i, shard in enumerate(shards):
        assert main(["-q", "data", "build", str(source), "--cutoff", CUTOFF, "--shard", f"{i}/2",
                     "--out", str(shard)]) == 0
    spoil(shards[1])
    assert main(["data", "merge", *map(str, shards), "--out", str(tmp_path / "joined")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(shards[1]) in err and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard0", "shard1"]


def test_a_bad_frame_in_a_worker_names_its_frame(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(build, "CHUNK_SIZE", 8)
    frames = []
    for k in range(40):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.info["REF_energy"] = float("nan") if k == 29 else -1.0 - k
        atoms.arrays["REF_forces"] = np.zeros((len(atoms), 3))
        frames.append(atoms)
    from ase.io import write

    path = tmp_path / "in.extxyz"
    write(path, frames, format="extxyz")
    assert main(["data", "build", str(path), "--workers", "2", "--out", str(tmp_path / "out" / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}: frame 29: energy is nan" in err, err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("flag, needle", [(["--shard", "3/3"], "need 0 <= I < N"), (["--shard", "a"], "expected I/N"),
                                          (["--workers", "0"], "--workers 0: must be at least 1")])
def test_build_flags_are_checked(source, tmp_path, capsys, flag, needle):
    assert main(["data", "build", str(source), *flag, "--out", str(tmp_path / "s")]) == 2
    assert needle in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
