"""The graph store: neighbour lists computed once, flat arrays on disk, memory-mapped by every training process.

`build_store` reads a source, computes full neighbour lists with vesin and writes flat .npy arrays plus a
manifest into a temporary folder that is renamed into place at the end (a failed build leaves nothing).
`GraphStore` memory-maps those arrays and is the only reader of the format: `store[i]` is a PyG Data with the
fields of docs/data.md, `store.batch(indices)` builds the PyG Batch for a whole index list with one vectorised slice
per array instead of one Data per structure (the per-item Python overhead dominates small batches otherwise), and
`store.array(name)` hands other readers (coverage, provenance) a flat array read-only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from scaling.atomic import default_file_mode
from scaling.data.structures import Structure, provenance_key
from scaling.errors import InputError

log = logging.getLogger(__name__)

FORMAT = "scaling-graph-store/1"
DEFAULT_CUTOFF = 5.0
TRAJECTORIES = "trajectories.json"  # [[source, label, first index], ...] of labelled trajectories (joins parts)
_ARRAYS = ("z", "pos", "forces", "atom_ptr", "cell", "pbc", "energy", "stress", "has_stress", "edge_index",
           "cell_shift", "edge_ptr", "group", "trajectory")
_BATCH_ARRAYS = ("z", "pos", "forces", "cell", "pbc", "energy", "stress", "has_stress", "edge_index", "cell_shift")


def build_store(
    source: str | Path | None,
    out_dir: str | Path,
    cutoff: float = DEFAULT_CUTOFF,
    *,
    structures: Sequence[Structure] | None = None,
    read_kwargs: dict[str, Any] | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
) -> Path:
    """Build a store from `source` (or from `structures`, with `source` recorded as their origin); returns its path.

    `workers` processes compute the neighbour lists chunk by chunk (scaling.data.build); `shard=(i, n)` builds only
    the i-th of n equal frame ranges, a store of its own that `merge_stores` joins with the others."""
    from scaling.data.build import build_from_source

    return build_from_source(source, Path(out_dir), cutoff, structures=structures, read_kwargs=read_kwargs,
                             force=force, progress=progress, workers=workers, shard=shard)


def check_cutoff(cutoff) -> None:
    if not (isinstance(cutoff, (int, float)) and math.isfinite(cutoff) and cutoff > 0):
        raise InputError(f"--cutoff: must be a positive finite number of A, got {cutoff}")


def neighbour_lists(structures: Sequence[Structure], cutoff: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each structure's edge_index (int32) and cell_shift (int16), narrowed at once (int64 lists of 20M edges cost
    GBs)."""
    from scaling.data.graphs import neighbour_list

    edges, shifts = [], []
    for structure in structures:
        edge_index, cell_shift = neighbour_list(structure.positions, structure.cell, structure.pbc, cutoff)
        if cell_shift.size and np.abs(cell_shift).max() > np.iinfo(np.int16).max:
            raise InputError(f"{structure.id}: a periodic image shift above {np.iinfo(np.int16).max} cells")
        edges.append(edge_index.astype(np.int32))
        shifts.append(cell_shift.astype(np.int16))
    return edges, shifts


def write_part(structures: Sequence[Structure], folder: Path, cutoff: float) -> None:
    """The store of `structures` written into the new folder `folder` (no manifest source; a part of a build)."""
    check_memory(structures, cutoff)
    edges, shifts = neighbour_lists(structures, cutoff)
    arrays, manifest, trajectory_keys = _flatten(structures, edges, shifts)
    manifest.update(format=FORMAT, source=None, source_sha256=None, cutoff=float(cutoff))
    folder.mkdir()
    write_store_files(folder, arrays, manifest, [s.id for s in structures], trajectory_keys)


def check_output_folder(out_dir: Path, force: bool) -> None:
    """A store is written only where nothing is, or (with force) over another store: never over a file or a
    folder of something else (force would otherwise delete it)."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise InputError(f"{out_dir}: exists and is not a folder; a graph store is a folder")
    if out_dir.exists():
        if not force:
            raise InputError(f"{out_dir}: already exists (use --force to replace it)")
        if not is_store(out_dir) and any(out_dir.iterdir()):
            raise InputError(f"{out_dir}: not a graph store (no manifest.json) and not empty; --force replaces only "
                             "a store")
    from scaling.atomic import output_file

    output_file(out_dir / "manifest.json", "store")  # a file on the way is refused here


# Neighbour-list bytes per directed pair while a store is built (vesin's pairs and shifts, then our narrowed copies).
_BYTES_PER_PAIR = 64


def check_memory(structures: Sequence[Structure], cutoff: float) -> None:
    """Refuse a cutoff whose neighbour lists cannot fit in memory: pairs per atom grow as density * 4/3 pi r^3."""
    from scaling.system import require_memory

    sphere = 4.0 / 3.0 * math.pi * cutoff**3
    pairs = 0.0
    for s in structures:
        volume = abs(float(np.linalg.det(s.cell))) if np.any(s.pbc) else 0.0
        pairs += s.n_atoms * (s.n_atoms * sphere / volume if volume > 0 else s.n_atoms - 1)
    require_memory(pairs * _BYTES_PER_PAIR, f"--cutoff {cutoff:g}",
                   f"about {pairs:.3g} neighbour pairs at this cutoff; use a smaller one")


def cached_store(source: str | Path, cutoff: float = DEFAULT_CUTOFF, cache: str | Path | None = None) -> Path:
    """The store of `source` at `cutoff` under the cache folder (built once; keyed by the source's SHA-256)."""
    from scaling.data.emt import cache_dir
    from scaling.data.io import source_sha256

    if not Path(source).is_file():
        raise InputError(f"{source}: no such file")
    key = f"{source_sha256(source)[:16]}-cutoff{float(cutoff):g}"
    out = Path(cache or cache_dir()) / "stores" / key
    if is_store(out):
        return out
    try:
        return build_store(source, out, cutoff)
    except (InputError, OSError):
        if is_store(out):  # another process built the same store at the same time
            return out
        raise


def _flatten(structures, edges, shifts) -> tuple[dict[str, np.ndarray], dict[str, Any], list]:
    n_atoms = np.array([s.n_atoms for s in structures], dtype=np.int64)
    n_edges = np.array([e.shape[1] for e in edges], dtype=np.int64)
    all_shifts = np.concatenate(shifts) if shifts else np.zeros((0, 3), np.int16)
    largest = int(np.abs(all_shifts).max()) if all_shifts.size else 0
    shift_dtype = np.int8 if largest <= 127 else np.int16
    group_keys = sorted({provenance_key(s) for s in structures})
    group_of = {key: i for i, key in enumerate(group_keys)}
    groups = [group_of[provenance_key(s)] for s in structures]
    trajectory, trajectory_keys = trajectory_groups(structures)
    stress = np.stack([s.stress if s.stress is not None else np.zeros((3, 3)) for s in structures])
    arrays = {
        "z": np.concatenate([s.numbers for s in structures]).astype(np.uint8),
        "pos": np.concatenate([s.positions for s in structures]).astype(np.float32),
        "forces": np.concatenate([s.forces for s in structures]).astype(np.float32),
        "atom_ptr": np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64),
        "cell": np.stack([s.cell for s in structures]).astype(np.float32),
        "pbc": np.stack([s.pbc for s in structures]).astype(bool),
        "energy": np.array([s.energy for s in structures], dtype=np.float64),
        "stress": stress.astype(np.float32),
        "has_stress": np.array([s.stress is not None for s in structures], dtype=bool),
        "edge_index": np.concatenate(edges, axis=1) if edges else np.zeros((2, 0), np.int32),
        "cell_shift": all_shifts.astype(shift_dtype),
        "edge_ptr": np.concatenate([[0], np.cumsum(n_edges)]).astype(np.int64),
        "group": np.array(groups, dtype=np.int32),
        "trajectory": trajectory,
    }
    manifest = summarize(structures)
    manifest.update(
        n_edges=int(n_edges.sum()),
        edges_per_atom=float(n_edges.sum() / n_atoms.sum()),
        cell_shift_dtype=np.dtype(shift_dtype).name,
        created_by=_version(),
    )
    return arrays, manifest, trajectory_keys


def summarize(structures: Sequence[Structure]) -> dict[str, Any]:
    """Counts, elements, label statistics and provenance groups (what `scaling data info` shows for a source)."""
    from ase.data import chemical_symbols

    n_atoms = np.array([s.n_atoms for s in structures], dtype=np.int64)
    per_atom = np.array([s.energy for s in structures]) / n_atoms
    groups: dict[str, list[Structure]] = {}
    for s in structures:
        groups.setdefault(provenance_key(s), []).append(s)
    elements = sorted({int(z) for s in structures for z in s.numbers})
    n_with_stress = sum(s.stress is not None for s in structures)
    return {
        "n_structures": len(structures),
        "n_atoms": int(n_atoms.sum()),
        "elements": [chemical_symbols[z] for z in elements],
        "has_forces": True,
        "has_stress": n_with_stress == len(structures),
        "n_with_stress": int(n_with_stress),
        "atoms_per_structure": {"min": int(n_atoms.min()), "max": int(n_atoms.max()), "mean": float(n_atoms.mean())},
        "energy_per_atom": {"min": float(per_atom.min()), "max": float(per_atom.max()), "mean": float(per_atom.mean())},
        "provenance_groups": [
            {
                **json.loads(key),
                "count": len(members),
                "elements": sorted({e for s in members for e in s.elements}, key=chemical_symbols.index),
            }
            for key, members in sorted(groups.items())
        ],
    }


def trajectory_groups(structures) -> tuple[np.ndarray, list]:
    """Correlated-frame groups: structures sharing (source, info['trajectory']) get the index of the first one.
    Also the labelled trajectories as [source, label, first index] (trajectories.json: how parts are joined)."""
    first: dict[tuple, int] = {}
    keys = []
    out = np.empty(len(structures), dtype=np.int64)
    for k, s in enumerate(structures):
        label = s.provenance.get("info", {}).get("trajectory")
        key = (s.provenance.get("source"), label) if label is not None else ("own", k)
        out[k] = first.setdefault(key, k)
        if label is not None and out[k] == k:
            keys.append([key[0], label, k])
    return out, keys


def _version() -> str:
    from scaling import __version__

    return f"scaling {__version__}"


def write_store_files(folder: Path, arrays, manifest, ids, trajectory_keys) -> None:
    """The files of a store (docs/data.md) into an existing folder."""
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array))
    (folder / "ids.json").write_text(json.dumps(ids) + "\n")
    (folder / TRAJECTORIES).write_text(json.dumps(trajectory_keys) + "\n")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


@contextlib.contextmanager
def atomic_store_folder(out_dir: Path, force: bool):
    """A temporary folder beside `out_dir`, renamed into place when the block ends (replacing a store with force);
    on any failure it is removed, so nothing is half-written, and an OSError names the store."""
    tmp = None
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
        tmp.chmod(_folder_mode())  # mkdtemp makes it private; a store is as readable as any new folder
        yield tmp
        if out_dir.exists() and force:
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except OSError as error:  # disk full or read-only: nothing is left behind, and the error names the store
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(out_dir)) from None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _folder_mode() -> int:
    """A new file's mode (0o666 less the umask) with search permission wherever reading is allowed."""
    mode = default_file_mode()
    return mode | (mode & 0o444) >> 2


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A store's manifest.json, checked to be a mapping of this format (InputError naming the file otherwise)."""
    manifest_path = Path(path) / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(f"{path}: not a graph store (no manifest.json)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{manifest_path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{manifest_path}: not a manifest mapping (holds a {type(manifest).__name__})")
    if manifest.get("format") != FORMAT:
        raise InputError(f"{manifest_path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    for key, kind in (("n_structures", int), ("cutoff", (int, float)), ("elements", list)):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise InputError(f"{manifest_path}: field {key}={manifest.get(key)!r} missing or of the wrong type")
    return manifest


def is_store(path: str | Path) -> bool:
    return (Path(path) / "manifest.json").is_file()


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges [s, s + c) for every (s, c), vectorised: the flat rows (atoms or edges) of structures."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)


class _Rows:
    """Rows of one .npy array read with positional reads (os.preadv) into a fresh array, not through its memory map:
    a training process that draws random batches from a store of millions then keeps no store pages mapped, so
    its resident memory does not grow with the store (the page cache still holds them, shared and reclaimable)."""

    def __init__(self, path: Path, mapped: np.ndarray, row_shape: tuple[int, ...] | None = None):
        self.path, self.dtype = path, mapped.dtype
        self.row_shape = mapped.shape[1:] if row_shape is None else row_shape
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * mapped.dtype.itemsize
        self.base = int(mapped.offset)
        self.fd = os.open(path, os.O_RDONLY)

    def read(self, starts: np.ndarray, counts: np.ndarray, base: int = 0) -> np.ndarray:
        """Rows [s, s + c) for every (s, c), concatenated; `base` shifts every byte offset (a later block)."""
        out = np.empty((int(counts.sum()),) + self.row_shape, dtype=self.dtype)
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        at = 0
        for start, count in zip(starts.tolist(), counts.tolist()):
            size = count * self.row_bytes
            if size and os.preadv(self.fd, [buffer[at : at + size]], self.base + base + start * self.row_bytes) != size:
                raise InputError(f"{self.path}: shorter than its header says (a truncated file)")
            at += size
        return out

    def close(self) -> None:
        os.close(self.fd)


class GraphStore:
    """A graph store; a torch Dataset of PyG Data (docs/data.md lists the fields).

    The arrays are memory-mapped for whole-array readers (coverage, provenance, composition); batches are read with
    positional reads (`_Rows`), so a process's resident memory stays that of its batches at any store size.
    Only the path travels when pickled (DataLoader workers, spawn), and each process opens the files itself.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.manifest: dict[str, Any] = read_manifest(self.path)
        self._open()

    def _open(self) -> None:
        for name in _ARRAYS:
            file = self.path / f"{name}.npy"
            try:
                setattr(self, f"_{name}", np.load(file, mmap_mode="r"))
            except FileNotFoundError:
                raise InputError(f"{file}: missing from the graph store") from None
            except (ValueError, EOFError, OSError) as error:  # truncated or garbage: numpy cannot map it
                if isinstance(error, OSError) and error.errno is not None:
                    raise
                raise InputError(f"{file}: not a readable array ({str(error).splitlines()[0]})") from None
        self._atom_ptr_mem = np.asarray(self._atom_ptr)
        self._edge_ptr_mem = np.asarray(self._edge_ptr)
        self._check_sizes()
        self._rows = {name: _Rows(self.path / f"{name}.npy", getattr(self, f"_{name}"), () if name == "edge_index"
                                  else None) for name in _BATCH_ARRAYS}  # edge_index (2, E): items of each row

    def __del__(self) -> None:
        for rows in getattr(self, "_rows", {}).values():
            rows.close()

    def _check_sizes(self) -> None:
        """Every array as long as the manifest and the pointers say (a shortened or swapped file is caught here)."""
        n = len(self)
        atoms = int(self._atom_ptr_mem[-1]) if len(self._atom_ptr_mem) else -1
        edges = int(self._edge_ptr_mem[-1]) if len(self._edge_ptr_mem) else -1
        expected = {"atom_ptr": n + 1, "edge_ptr": n + 1, "z": atoms, "pos": atoms, "forces": atoms, "cell": n,
                    "pbc": n, "energy": n, "stress": n, "has_stress": n, "group": n, "trajectory": n,
                    "cell_shift": edges}
        for name, length in expected.items():
            if len(getattr(self, f"_{name}")) != length:
                raise InputError(f"{self.path / (name + '.npy')}: {len(getattr(self, f'_{name}'))} rows, expected "
                                 f"{length} for a store of {n} structures (a truncated or foreign file)")
        if self._edge_index.shape != (2, edges):
            raise InputError(f"{self.path / 'edge_index.npy'}: shape {self._edge_index.shape}, expected (2, {edges})")

    def __getstate__(self):
        return {"path": self.path, "manifest": self.manifest}

    def __setstate__(self, state):
        self.path, self.manifest = state["path"], state["manifest"]
        self._open()

    def __len__(self) -> int:
        return int(self.manifest["n_structures"])

    def __repr__(self) -> str:
        return f"GraphStore({str(self.path)!r}, n={len(self)}, cutoff={self.cutoff})"

    @property
    def cutoff(self) -> float:
        return float(self.manifest["cutoff"])

    @property
    def elements(self) -> list[str]:
        return list(self.manifest["elements"])

    @property
    def energy(self) -> np.ndarray:
        """Total energies [n] in eV (float64)."""
        return np.asarray(self._energy)

    @property
    def trajectory(self) -> np.ndarray:
        """[n]: index of the first structure of each structure's trajectory (correlated frames share it)."""
        return np.asarray(self._trajectory)

    @property
    def group(self) -> np.ndarray:
        """[n]: provenance group index into manifest['provenance_groups']."""
        return np.asarray(self._group)

    @property
    def ids(self) -> list[str]:
        return json.loads((self.path / "ids.json").read_text())

    def trajectory_keys(self) -> list:
        """The labelled trajectories as [source, label, first index] (what joining stores needs); [] if none."""
        file = self.path / TRAJECTORIES
        if not file.is_file():
            return []
        try:
            keys = json.loads(file.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise InputError(f"{file}: not valid JSON ({error})") from None
        if not isinstance(keys, list) or not all(isinstance(k, list) and len(k) == 3 for k in keys):
            raise InputError(f"{file}: not a list of [source, label, first index]")
        return keys

    def n_atoms(self, indices=None) -> np.ndarray:
        counts = np.diff(self._atom_ptr_mem)
        return counts if indices is None else counts[np.asarray(indices, dtype=np.int64)]

    def numbers(self, i: int) -> np.ndarray:
        return np.asarray(self._z[self._atom_ptr_mem[i] : self._atom_ptr_mem[i + 1]], dtype=np.int64)

    def composition(self, indices=None) -> np.ndarray:
        """[len(indices), 119] counts of each atomic number per structure (for per-element reference energies)."""
        indices = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        counts = self.n_atoms(indices)
        atoms = ranges(self._atom_ptr_mem[indices], counts)
        rows = np.repeat(np.arange(len(indices)), counts)
        out = np.zeros((len(indices), 119), dtype=np.int64)
        np.add.at(out, (rows, np.asarray(self._z[atoms], dtype=np.int64)), 1)
        return out

    # --- read-only access for the store's other readers (coverage descriptors, provenance checks) ---------------

    def array(self, name: str) -> np.ndarray:
        """The flat array `name` of the store format (z, pos, edge_index, cell_shift, ...): memory-mapped, read-only."""
        if name not in _ARRAYS:
            raise KeyError(f"{name!r}: not an array of {FORMAT} (one of {', '.join(_ARRAYS)})")
        return getattr(self, f"_{name}")

    @property
    def atom_ptr(self) -> np.ndarray:
        """[n + 1]: the atoms of structure k are the flat rows atom_ptr[k]:atom_ptr[k + 1] (read-only)."""
        return self._atom_ptr_mem

    @property
    def edge_ptr(self) -> np.ndarray:
        """[n + 1]: the edges of structure k are the flat rows edge_ptr[k]:edge_ptr[k + 1] (read-only)."""
        return self._edge_ptr_mem

    def atom_rows(self, indices) -> np.ndarray:
        """Flat atom rows of the structures `indices`, structure by structure in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return ranges(self._atom_ptr_mem[indices], self.n_atoms(indices))

    def edge_rows(self, indices) -> np.ndarray:
        """Flat edge rows of the structures `indices`, structure by structure in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return ranges(self._edge_ptr_mem[indices], self._edge_ptr_mem[indices + 1] - self._edge_ptr_mem[indices])

    def provenance_group(self, i: int) -> dict[str, Any]:
        """The manifest's provenance group of structure i (calculator, settings, count, elements); {} if none."""
        groups = self.manifest.get("provenance_groups") or []
        return groups[int(self._group[i])] if groups else {}

    def __getitem__(self, i):
        from torch_geometric.data import Data

        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"structure {i} out of range for a store of {n}")
        i %= n
        return Data(**self._fields(np.array([i], dtype=np.int64), batched=False))

    def batch(self, indices):
        """A PyG Batch of the structures `indices`, equal to Batch.from_data_list([store[i] for i in indices])."""
        import torch
        from torch_geometric.data import Batch, Data

        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size == 0:
            raise ValueError("empty batch")
        n = len(self)
        if (indices < -n).any() or (indices >= n).any():
            raise IndexError(f"index out of range for a store of {n}")
        indices %= n
        fields = self._fields(indices, batched=True)
        counts = self._atom_ptr_mem[indices + 1] - self._atom_ptr_mem[indices]
        n_edges = self._edge_ptr_mem[indices + 1] - self._edge_ptr_mem[indices]
        graphs = len(indices)
        batch = Batch(_base_cls=Data)
        for key, value in fields.items():
            batch[key] = value
        atom_ptr = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]))
        edge_ptr = torch.from_numpy(np.concatenate([[0], np.cumsum(n_edges)]))
        graph_ptr = torch.arange(graphs + 1)
        batch.batch = torch.from_numpy(np.repeat(np.arange(graphs), counts))
        batch.ptr = atom_ptr
        per_atom = ("z", "pos", "forces")
        batch._slice_dict = {
            key: atom_ptr if key in per_atom else edge_ptr if key in ("edge_index", "cell_shift") else graph_ptr
            for key in fields
        }
        zeros = torch.zeros(graphs, dtype=torch.long)
        batch._inc_dict = {key: atom_ptr[:-1] if key == "edge_index" else zeros for key in fields}
        batch._num_graphs = graphs
        return batch

    def _fields(self, indices: np.ndarray, batched: bool) -> dict[str, Any]:
        import torch

        atom_start = self._atom_ptr_mem[indices]
        counts = self._atom_ptr_mem[indices + 1] - atom_start
        edge_start = self._edge_ptr_mem[indices]
        n_edges = self._edge_ptr_mem[indices + 1] - edge_start
        one = np.ones(len(indices), dtype=np.int64)
        rows = self._rows
        atoms = {name: rows[name].read(atom_start, counts) for name in ("z", "pos", "forces")}
        per_graph = {name: rows[name].read(indices, one) for name in ("cell", "pbc", "energy", "stress", "has_stress")}
        edge_index = rows["edge_index"]  # shape (2, E): its second row starts E items after the first
        second = int(self._edge_index.shape[1]) * edge_index.row_bytes
        offsets = np.repeat(np.cumsum(counts) - counts, n_edges)
        senders, receivers = (edge_index.read(edge_start, n_edges, base).astype(np.int64) + offsets
                              for base in (0, second))
        return {
            "z": torch.from_numpy(atoms["z"].astype(np.int64)),
            "pos": torch.from_numpy(atoms["pos"]),
            "cell": torch.from_numpy(per_graph["cell"]),
            "pbc": torch.from_numpy(per_graph["pbc"]),
            "edge_index": torch.from_numpy(np.stack([senders, receivers])),
            "cell_shift": torch.from_numpy(rows["cell_shift"].read(edge_start, n_edges).astype(np.float32)),
            "energy": torch.from_numpy(per_graph["energy"].astype(np.float32)),
            "forces": torch.from_numpy(atoms["forces"]),
            "stress": torch.from_numpy(per_graph["stress"]),
            "has_stress": torch.from_numpy(per_graph["has_stress"]),
            "idx": torch.from_numpy(indices.copy()),
        }
