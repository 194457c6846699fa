"""Joining stores end to end: the parts of one build, or the shards built by separate jobs (`scaling data merge`).

The joined store is the store a single build over all the structures would have written: structures in part order,
provenance groups renumbered over the union of the parts' groups, trajectories that continue across a part boundary
joined through each part's trajectories.json, label statistics computed on the joined arrays. Parts are read through
GraphStore (so a broken part is refused naming its file) and copied array by array in blocks of BLOCK rows, so
memory stays bounded whatever their size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

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
    fields that are not the parts' (cutoff, source, source_sha256, shard). Returns the manifest."""
    from scaling.data.store import _ARRAYS, FORMAT, TRAJECTORIES, GraphStore, _version

    stores = [GraphStore(part) for part in parts]
    for store in stores:
        if store.cutoff != extra["cutoff"]:
            raise InputError(f"{store.path / 'manifest.json'}: field cutoff={store.cutoff}, expected "
                             f"{extra['cutoff']} like the other parts")
    sizes = np.array([[len(s), s.atom_ptr[-1], s.edge_ptr[-1]] for s in stores], dtype=np.int64)
    starts = np.vstack([np.zeros((1, 3), np.int64), np.cumsum(sizes, axis=0)])
    n, n_atoms, n_edges = (int(v) for v in starts[-1])
    groups = _joined_groups(stores)
    wide = any(s.array("cell_shift").dtype != np.int8 for s in stores)
    shift_dtype = np.dtype(np.int16 if wide else np.int8)
    trajectory_maps, trajectory_keys = _joined_trajectories(stores, starts[:, 0])
    rows = {"atom": 1, "edge": 2}
    for name in _ARRAYS:
        first = stores[0].array(name)
        dtype = shift_dtype if name == "cell_shift" else first.dtype
        kind = "atom" if name in ("z", "pos", "forces") else "edge" if name in ("edge_index", "cell_shift") else "n"
        length = n_atoms if kind == "atom" else n_edges if kind == "edge" else n + 1 if name.endswith("_ptr") else n
        shape = (2, length) if name == "edge_index" else (length, *first.shape[1:])
        out = np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
        for k, store in enumerate(stores):
            at = int(starts[k, rows.get(kind, 0)])
            source = store.array(name)
            if name == "edge_index":
                for lo in range(0, source.shape[1], BLOCK):
                    block = source[:, lo : lo + BLOCK]
                    out[:, at + lo : at + lo + block.shape[1]] = block
                continue
            for lo in range(0, len(source), BLOCK):
                block = np.asarray(source[lo : lo + BLOCK])
                if name == "atom_ptr":
                    block = block + starts[k, 1]
                elif name == "edge_ptr":
                    block = block + starts[k, 2]
                elif name == "group":
                    block = groups["remap"][k][block]
                elif name == "trajectory":
                    block = trajectory_maps[k][block]
                out[at + lo : at + lo + len(block)] = block
        out.flush()
        del out
    manifest = _joined_manifest(folder, stores, groups["groups"], n_edges, shift_dtype, _version())
    manifest["format"] = FORMAT
    for key in ("source", "source_sha256", "cutoff"):
        manifest[key] = extra.get(key)
    manifest.update(extra)
    _stream_ids(stores, folder)
    (folder / TRAJECTORIES).write_text(json.dumps(trajectory_keys) + "\n")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _joined_groups(stores) -> dict[str, Any]:
    """The union of the parts' provenance groups in the order a single build sorts them, with counts and elements,
    and for each part the map from its group numbers to the joined ones."""
    from ase.data import chemical_symbols

    from scaling.data.structures import settings_key

    joined: dict[str, dict] = {}
    part_keys = []
    for store in stores:
        keys = []
        for group in store.manifest.get("provenance_groups") or []:
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
    return {"groups": groups, "remap": remap}


def _joined_trajectories(stores, offsets) -> tuple[list[np.ndarray], list]:
    """For each part, the map from its trajectory numbers (local first indices) to the joined ones: a labelled
    trajectory seen in an earlier part keeps that part's first index."""
    first: dict[tuple, int] = {}
    keys = []
    maps = []
    for store, offset in zip(stores, offsets):
        mapping = np.arange(len(store), dtype=np.int64) + int(offset)
        for source, label, local in store.trajectory_keys():
            key = (source, json.dumps(label))
            if key not in first:
                first[key] = int(offset) + int(local)
                keys.append([source, label, first[key]])
            mapping[int(local)] = first[key]
        maps.append(mapping)
    return maps, keys


def _joined_manifest(folder: Path, stores, groups, n_edges: int, shift_dtype, created_by: str) -> dict[str, Any]:
    """The manifest fields of `summarize` and `_flatten`, from the joined arrays and the parts' manifests."""
    from ase.data import chemical_symbols

    atom_ptr = np.load(folder / "atom_ptr.npy", mmap_mode="r")
    counts = np.diff(atom_ptr)
    per_atom = np.load(folder / "energy.npy", mmap_mode="r") / counts
    n_with_stress = int(np.count_nonzero(np.load(folder / "has_stress.npy", mmap_mode="r")))
    elements = sorted({e for s in stores for e in s.elements}, key=chemical_symbols.index)
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


def _stream_ids(stores, folder: Path) -> None:
    """ids.json of the joined store, written part by part (the bytes json.dumps of the whole list gives)."""
    with open(folder / "ids.json", "w") as handle:
        handle.write("[")
        for k, store in enumerate(stores):
            ids = store.ids
            if ids and k and handle.tell() > 1:
                handle.write(", ")
            handle.write(json.dumps(ids)[1:-1])
        handle.write("]\n")
