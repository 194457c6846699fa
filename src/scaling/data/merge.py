"""Joining stores end to end: the parts of one build, or the shards built by separate jobs (`scaling data merge`).

The joined store is the store a single build over all the structures would have written: structures in part order,
provenance groups renumbered over the union of the parts' groups, trajectories that continue across a part boundary
joined through each part's trajectories.json, label statistics computed on the joined arrays. Parts are read through
GraphStore (so a broken part is refused naming its file) and copied array by array in blocks of BLOCK rows, so
memory stays bounded whatever their size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scaling.errors import InputError

BLOCK = 1 << 22  # rows copied at a time


def merge_stores(shards: Sequence[str | Path], out_dir: str | Path, *, force: bool = False) -> Path:
    """Join the stores `shards` into `out_dir` (atomically). Shards from `build --shard I/N` are put in shard order
    and must be all N shards of one source; other stores are joined in the order given."""
    from scaling.data.store import GraphStore, atomic_store_folder, check_output_folder

    if not shards:
        raise InputError("data merge: give the shard stores to join")
    out_dir = Path(out_dir)
    stores = [GraphStore(path) for path in shards]
    stores = _in_shard_order(stores)
    check_output_folder(out_dir, force)
    sources = {s.manifest.get("source") for s in stores}
    digests = {s.manifest.get("source_sha256") for s in stores}
    extra = {
        "cutoff": stores[0].cutoff,
        "source": sources.pop() if len(sources) == 1 else [s.manifest.get("source") for s in stores],
        "source_sha256": digests.pop() if len(digests) == 1 else [s.manifest.get("source_sha256") for s in stores],
    }
    with atomic_store_folder(out_dir, force) as folder:
        join_parts([s.path for s in stores], folder, extra)
    return out_dir


def _in_shard_order(stores: list) -> list:
    """Stores carrying `shard` fields sorted by index, checked to be all N shards of one source exactly once."""
    shards = [s.manifest.get("shard") for s in stores]
    if not any(shards):
        return stores
    first = stores[0]
    for store, shard in zip(stores, shards):
        where = store.path / "manifest.json"
        if not isinstance(shard, dict) or shard.get("count") != shards[0]["count"]:
            raise InputError(f"{where}: field shard={shard!r}, expected one of {shards[0]['count']} shards like "
                             f"{first.path}")
        if store.manifest.get("source_sha256") != first.manifest.get("source_sha256"):
            raise InputError(f"{where}: field source_sha256={store.manifest.get('source_sha256')!r} differs from "
                             f"{first.path} (shards of another source)")
    count = shards[0]["count"]
    by_index: dict[int, Any] = {}
    for store, shard in zip(stores, shards):
        if shard["index"] in by_index:
            raise InputError(f"{store.path / 'manifest.json'}: field shard={shard['index']}/{count} given twice "
                             f"(also {by_index[shard['index']].path})")
        by_index[shard["index"]] = store
    missing = sorted(set(range(count)) - set(by_index))
    if missing:
        raise InputError(f"{first.path}: shard {missing[0]}/{count} missing ({len(by_index)} of {count} given)")
    return [by_index[i] for i in range(count)]


def join_parts(parts: Sequence[Path], folder: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Write the store of all `parts` (store folders, in order) into the existing `folder`; `extra` gives the
    fields that are not the parts' (cutoff, source, source_sha256, shard). Returns the manifest.

    Output files are written with positional writes (no memory map), and each part is opened only while it is
    copied, so the process maps at most one part at a time."""
    from scaling.data.store import _ARRAYS, FORMAT, TRAJECTORIES, GraphStore, _version

    sizes, part_groups, part_elements, shapes, wide = [], [], set(), {}, False
    for part in parts:  # checks and sizes first: a broken part is refused before anything is written
        store = GraphStore(part)
        if store.cutoff != extra["cutoff"]:
            raise InputError(f"{store.path / 'manifest.json'}: field cutoff={store.cutoff}, expected "
                             f"{extra['cutoff']} like the other parts")
        store.trajectory_keys()
        sizes.append([len(store), store.atom_ptr[-1], store.edge_ptr[-1]])
        part_groups.append(store.manifest.get("provenance_groups") or [])
        part_elements.update(store.elements)
        wide |= store.array("cell_shift").dtype != np.int8
        shapes = shapes or {name: (store.array(name).dtype, store.array(name).shape[1:]) for name in _ARRAYS}
        del store
    starts = np.vstack([np.zeros((1, 3), np.int64), np.cumsum(np.array(sizes, dtype=np.int64), axis=0)])
    n, n_atoms, n_edges = (int(v) for v in starts[-1])
    groups, remap = _joined_groups(part_groups)
    shift_dtype = np.dtype(np.int16 if wide else np.int8)
    shapes["cell_shift"] = (shift_dtype, (3,))
    outputs = {name: _NpyWriter(folder / f"{name}.npy", dtype, _shape(name, shapes[name][1], n, n_atoms, n_edges))
               for name, (dtype, _) in shapes.items()}
    first: dict[tuple, int] = {}
    trajectory_keys: list = []
    try:
        for k, part in enumerate(parts):
            store = GraphStore(part)
            at_n, at_atom, at_edge = (int(v) for v in starts[k])
            mapping = np.arange(len(store), dtype=np.int64) + at_n
            for source, label, local in store.trajectory_keys():
                key = (source, json.dumps(label))
                if key not in first:
                    first[key] = at_n + int(local)
                    trajectory_keys.append([source, label, first[key]])
                mapping[int(local)] = first[key]
            transforms = {"atom_ptr": lambda b, a=at_atom: b + a, "edge_ptr": lambda b, e=at_edge: b + e,
                          "group": lambda b, r=remap[k]: r[b], "trajectory": lambda b, m=mapping: m[b]}
            for name in _ARRAYS:
                array = store.array(name)
                kind = "atom" if name in ("z", "pos", "forces") else "edge" if name in ("edge_index", "cell_shift") \
                    else "n"
                at = at_atom if kind == "atom" else at_edge if kind == "edge" else at_n
                if name == "edge_index":
                    for row in range(2):
                        for lo in range(0, array.shape[1], BLOCK):
                            outputs[name].write(row * n_edges + at + lo, array[row, lo : lo + BLOCK])
                    continue
                transform = transforms.get(name, lambda b: b)
                for lo in range(0, len(array), BLOCK):
                    outputs[name].write(at + lo, transform(np.asarray(array[lo : lo + BLOCK])))
            del store, array
    finally:
        for writer in outputs.values():
            writer.close()
    manifest = _joined_manifest(folder, groups, part_elements, n_edges, shift_dtype, _version())
    manifest["format"] = FORMAT
    for key in ("source", "source_sha256", "cutoff"):
        manifest[key] = extra.get(key)
    manifest.update(extra)
    _stream_ids(parts, folder)
    (folder / TRAJECTORIES).write_text(json.dumps(trajectory_keys) + "\n")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _shape(name: str, tail: tuple, n: int, n_atoms: int, n_edges: int) -> tuple:
    if name == "edge_index":
        return (2, n_edges)
    if name in ("z", "pos", "forces"):
        return (n_atoms, *tail)
    if name == "cell_shift":
        return (n_edges, *tail)
    return (n + 1 if name.endswith("_ptr") else n, *tail)


class _NpyWriter:
    """An .npy file of a known dtype and shape, filled by flat row offset with positional writes."""

    def __init__(self, path: Path, dtype, shape: tuple):
        self.dtype = np.dtype(dtype)
        flat = path.name == "edge_index.npy"  # [2, E]: written row by row at flat offsets
        self.row_bytes = self.dtype.itemsize * (1 if flat else int(np.prod(shape[1:], dtype=np.int64)))
        self.handle = open(path, "wb")  # noqa: SIM115  (closed by close(), after every part is written)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self.handle, header)
        self.offset = self.handle.tell()
        self.handle.truncate(self.offset + self.dtype.itemsize * int(np.prod(shape, dtype=np.int64)))

    def write(self, row: int, block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, dtype=self.dtype)
        os.pwrite(self.handle.fileno(), memoryview(data).cast("B"), self.offset + row * self.row_bytes)

    def close(self) -> None:
        self.handle.close()


def _joined_groups(part_groups) -> tuple[list, list[np.ndarray]]:
    """The union of the parts' provenance groups in the order a single build sorts them, with counts and elements,
    and for each part the map from its group numbers to the joined ones."""
    from ase.data import chemical_symbols

    from scaling.data.structures import settings_key

    joined: dict[str, dict] = {}
    part_keys = []
    for groups_of_part in part_groups:
        keys = []
        for group in groups_of_part:
            key = settings_key(group["calculator"], group["settings"])
            keys.append(key)
            entry = joined.setdefault(key, {"calculator": group["calculator"], "settings": group["settings"],
                                            "count": 0, "elements": set()})
            entry["count"] += group["count"]
            entry["elements"].update(group["elements"])
        part_keys.append(keys)
    order = sorted(joined)
    index = {key: i for i, key in enumerate(order)}
    groups = []
    for key in order:
        entry = dict(joined[key])
        entry["elements"] = sorted(entry["elements"], key=chemical_symbols.index)
        groups.append({**json.loads(key), "count": entry["count"], "elements": entry["elements"]})
    remap = [np.array([index[key] for key in keys] or [0], dtype=np.int32) for keys in part_keys]
    return groups, remap


def _joined_manifest(folder: Path, groups, elements, n_edges: int, shift_dtype, created_by: str) -> dict[str, Any]:
    """The manifest fields of `summarize` and `_flatten`, from the joined arrays and the parts' manifests."""
    from ase.data import chemical_symbols

    atom_ptr = np.load(folder / "atom_ptr.npy", mmap_mode="r")
    counts = np.diff(atom_ptr)
    per_atom = np.load(folder / "energy.npy", mmap_mode="r") / counts
    n_with_stress = int(np.count_nonzero(np.load(folder / "has_stress.npy", mmap_mode="r")))
    elements = sorted(elements, key=chemical_symbols.index)
    n = len(counts)
    return {
        "n_structures": n,
        "n_atoms": int(counts.sum()),
        "elements": elements,
        "has_forces": True,
        "has_stress": n_with_stress == n,
        "n_with_stress": n_with_stress,
        "atoms_per_structure": {"min": int(counts.min()), "max": int(counts.max()), "mean": float(counts.mean())},
        "energy_per_atom": {"min": float(per_atom.min()), "max": float(per_atom.max()),
                            "mean": float(per_atom.mean())},
        "provenance_groups": groups,
        "n_edges": n_edges,
        "edges_per_atom": float(np.int64(n_edges) / counts.sum()),
        "cell_shift_dtype": shift_dtype.name,
        "created_by": created_by,
    }


def _stream_ids(parts, folder: Path) -> None:
    """ids.json of the joined store, written part by part (the bytes json.dumps of the whole list gives)."""
    from scaling.data.store import GraphStore

    with open(folder / "ids.json", "w") as handle:
        handle.write("[")
        for k, part in enumerate(parts):
            ids = GraphStore(part).ids
            if ids and k and handle.tell() > 1:
                handle.write(", ")
            handle.write(json.dumps(ids)[1:-1])
        handle.write("]\n")
