"""Parallel, streamed store builds: chunks of structures -> part stores (in worker processes) -> one store.

The source is cut into chunks of CHUNK_SIZE structures. An extxyz source is scanned once for the byte offsets of
its frames (count lines only), and each worker parses its own byte range, so the parent neither parses nor holds
the structures; other formats (ASE db, mlearn JSON, other ase formats) and in-memory structures are read here and
handed over chunk by chunk. A worker validates its chunk, computes the neighbour lists and writes a part store; the
parts are then joined in order into the store (scaling.data.merge), array by array in blocks. Memory is bounded by
a few chunks per worker whatever the dataset's size, and the store does not depend on the number of workers.

`shard=(i, n)` keeps the i-th of n equal frame ranges of the source: a store of its own, built by one cluster job,
that `scaling data merge` joins with the other shards into the store a single build would have written.
"""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from scaling.data.structures import Structure
from scaling.errors import InputError

CHUNK_SIZE = 500
EXTXYZ_FORMATS = ("extxyz", "xyz")
PARTS = ".parts"


class Chunk(Protocol):
    """What a worker gets: `read()` gives the chunk's structures; `count` is their number (for progress)."""

    count: int

    def read(self) -> list[Structure]: ...


@dataclass(frozen=True)
class ExtxyzChunk:
    """Whole frames in bytes [start, end) of an extxyz file, the first of them frame `first_frame`."""

    path: str
    start: int
    end: int
    first_frame: int
    count: int
    read_kwargs: dict = field(default_factory=dict)

    def read(self) -> list[Structure]:
        from scaling.data.io import read_extxyz_range

        keys = {k: self.read_kwargs.get(k) for k in ("energy_key", "forces_key", "stress_key")}
        return read_extxyz_range(self.path, self.start, self.end, self.first_frame, **keys)


@dataclass(frozen=True)
class StructureChunk:
    """Structures already read (in-memory lists, formats that are read whole)."""

    structures: tuple

    @property
    def count(self) -> int:
        return len(self.structures)

    def read(self) -> list[Structure]:
        return list(self.structures)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' (0 <= I < N) -> (I, N); InputError naming the flag otherwise."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r}: expected I/N, e.g. 0/8 (shards are numbered from 0)") from None
    if not 0 <= index < count:
        raise InputError(f"--shard {text}: need 0 <= I < N (shards are numbered from 0)")
    return index, count


def build_from_source(
    source: str | Path | None,
    out_dir: Path,
    cutoff: float,
    *,
    structures: Sequence[Structure] | None = None,
    read_kwargs: dict[str, Any] | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
) -> Path:
    """`build_store`'s work: plan the chunks of `source` (or `structures`), build them, join them."""
    from scaling.data.io import _guess_format, read_structures, source_sha256
    from scaling.data.store import check_cutoff, check_output_folder

    check_cutoff(cutoff)
    if workers < 1:
        raise InputError(f"--workers {workers}: must be at least 1")
    check_output_folder(out_dir, force)
    read_kwargs = dict(read_kwargs or {})
    if structures is None and source is None:
        raise InputError("build_store: give a source file or structures")
    if structures is None:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file")
        if (read_kwargs.get("format") or _guess_format(path)) in EXTXYZ_FORMATS:
            offsets = frame_offsets(path)
            lo, hi = shard_range(len(offsets) - 1, shard)
            chunks: list[Chunk] = list(extxyz_chunks(path, offsets[lo : hi + 1], lo, read_kwargs))
        else:
            structures = read_structures(path, **read_kwargs)
    if structures is not None:
        if not structures:
            raise InputError(f"{source}: no structures")
        lo, hi = shard_range(len(structures), shard)
        chunks = [StructureChunk(tuple(structures[k : min(k + CHUNK_SIZE, hi)])) for k in range(lo, hi, CHUNK_SIZE)]
    manifest = {
        "source": str(source) if source is not None else None,
        "source_sha256": source_sha256(source) if source is not None and Path(source).is_file() else None,
    }
    if shard is not None:
        manifest["shard"] = {"index": shard[0], "count": shard[1], "first_frame": lo, "end_frame": hi}
    if not chunks:
        raise InputError(f"{source}: no structures" + (f" in shard {shard[0]}/{shard[1]}" if shard else ""))
    return build_from_chunks(chunks, out_dir, cutoff, workers=workers, force=force, progress=progress,
                             manifest=manifest)


def build_from_chunks(
    chunks: Iterable[Chunk],
    out_dir: Path,
    cutoff: float,
    *,
    workers: int = 1,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    total: int | None = None,
    manifest: dict[str, Any] | None = None,
) -> Path:
    """Build every chunk into a part store (`workers` processes), then join the parts, in chunk order, into the
    store `out_dir` (atomically). `manifest` adds fields (source, source_sha256, shard) to the store's manifest."""
    from scaling.data.merge import join_parts
    from scaling.data.store import (
        atomic_store_folder,
        check_cutoff,
        check_output_folder,
    )

    check_cutoff(cutoff)
    check_output_folder(out_dir, force)
    if total is None and isinstance(chunks, Sequence):
        total = sum(chunk.count for chunk in chunks)
    with atomic_store_folder(out_dir, force) as folder:
        parts_dir = folder / PARTS
        parts_dir.mkdir()
        parts = _build_parts(chunks, parts_dir, float(cutoff), workers, progress, total)
        if not parts:
            raise InputError(f"{out_dir}: no structures to build")
        join_parts(parts, folder, {"cutoff": float(cutoff), **(manifest or {})})
        shutil.rmtree(parts_dir)
    return out_dir


def _build_part(chunk: Chunk, folder: Path, cutoff: float) -> int:
    from scaling.data.store import write_part

    structures = chunk.read()
    write_part(structures, folder, cutoff)
    return len(structures)


def _build_parts(chunks: Iterable[Chunk], parts_dir: Path, cutoff: float, workers: int, progress, total) -> list:
    """Part folders in chunk order; at most 2 chunks per worker in flight, so memory stays bounded."""
    parts: list[Path] = []
    done = 0
    if workers == 1:
        for chunk in chunks:
            parts.append(parts_dir / f"{len(parts):07d}")
            done += _build_part(chunk, parts[-1], cutoff)
            if progress is not None:
                progress(done, total)
        return parts
    import ase.io  # noqa: F401  (imported once here, so forked workers start with the readers and vesin loaded)
    import vesin  # noqa: F401

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)  # fork: no re-imports per worker
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: set = set()
        try:
            for chunk in chunks:
                parts.append(parts_dir / f"{len(parts):07d}")
                pending.add(pool.submit(_build_part, chunk, parts[-1], cutoff))
                while len(pending) >= 2 * workers:
                    done += _collect(pending, progress, total, done)
            while pending:
                done += _collect(pending, progress, total, done)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return parts


def _collect(pending: set, progress, total, done: int) -> int:
    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
    count = 0
    for future in finished:
        pending.discard(future)
        count += future.result()  # a worker's InputError or OSError is raised here
    if progress is not None:
        progress(done + count, total)
    return count


# --- extxyz chunks ----------------------------------------------------------------------------------------------

def frame_offsets(path: Path) -> np.ndarray:
    """Byte offsets of the frames of an extxyz file, plus its size: int64 [frames + 1]. Only count lines are
    parsed; where the layout breaks (a bad count line, a truncated frame, trailing text), the rest of the file is
    added to the last frame, so the reader of that chunk reports the error with the frame number ase gives."""
    offsets = [0]
    with open(path, "rb") as handle:
        while True:
            line = handle.readline()
            if not line:
                break
            try:
                n_atoms = int(line)
            except ValueError:
                break
            if n_atoms < 0 or any(not handle.readline() for _ in range(n_atoms + 1)):
                break
            offsets.append(handle.tell())
        size = handle.seek(0, 2)
    if offsets[-1] != size:
        if len(offsets) > 1:
            offsets[-1] = size  # the broken tail goes with the last whole frame
        else:
            offsets.append(size)
    return np.asarray(offsets, dtype=np.int64)


def shard_range(n: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """Frames [lo, hi) of shard (i, n_shards): equal ranges, the remainder spread over the first shards."""
    if shard is None:
        return 0, n
    index, count = shard
    return index * n // count, (index + 1) * n // count


def extxyz_chunks(path: Path, offsets: np.ndarray, first_frame: int, read_kwargs: dict) -> Iterator[ExtxyzChunk]:
    """Chunks of CHUNK_SIZE frames; `offsets` are the byte offsets of frames first_frame, first_frame + 1, ..."""
    n = len(offsets) - 1
    keys = {k: v for k, v in read_kwargs.items() if k != "format"}
    for k in range(0, n, CHUNK_SIZE):
        end = min(k + CHUNK_SIZE, n)
        yield ExtxyzChunk(str(path), int(offsets[k]), int(offsets[end]), first_frame + k, end - k, keys)
