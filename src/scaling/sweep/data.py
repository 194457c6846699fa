"""The one dataset and graph-store build that every cell of a sweep shares (RUN_DIR/data/store).

The driver builds it before any cell starts, under a file lock, atomically (`build_store` writes a temporary folder
and renames it into place), so a kill at any moment leaves either no store or a whole one. A prebuilt store given
as `dataset.path` is linked in (hard links, or a copy across file systems) rather than rebuilt; a separate test set
(`dataset.test_path`) becomes RUN_DIR/data/test_store the same way. The validation/test split and every nested
training subset are written next to the store here too, so cells only read them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path

from scaling.data.store import is_store
from scaling.sweep.runfolder import RunFolder
from scaling.sweep.spec import SweepSpec

log = logging.getLogger(__name__)

DERIVED = ("splits", "subsets")  # a store's own split and subset files: each run folder makes its own


def store_path(folder: RunFolder) -> Path:
    return folder.data_dir / "store"


def test_store_path(folder: RunFolder) -> Path:
    return folder.data_dir / "test_store"


def prepare_data(folder: RunFolder, spec: SweepSpec, progress=None, plan=None) -> Path:
    """Build (once) the sweep's graph store(s) and its split and subset index files; returns the store's path.

    `plan` (from `preflight.check_spec`) carries the structures or store already read, so nothing is read twice."""
    from scaling.data.store import GraphStore
    from scaling.data.subsets import load_split, nested_subsets

    store_dir = store_path(folder)
    folder.data_dir.mkdir(parents=True, exist_ok=True)
    with open(folder.data_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_store(store_dir):
            pool = plan.pool if plan is not None else None
            _materialise(store_dir, spec.dataset.path, pool, spec, progress)
        if spec.dataset.test_path is not None and not is_store(test_store_path(folder)):
            test = plan.test if plan is not None else None
            _materialise(test_store_path(folder), spec.dataset.test_path, test, spec, progress)
        store = GraphStore(store_dir)
        split = load_split(store, val_fraction=spec.split.val_fraction, test_fraction=spec.test_fraction(),
                           seed=spec.split.seed)
        sizes = sorted(spec.axes.train_size)
        too_big = [size for size in sizes if size > len(split.train)]
        if too_big:
            from scaling.errors import InputError

            raise InputError(
                f"{folder.spec_path}: field `axes.train_size` = {too_big[0]} exceeds the {len(split.train)} "
                f"structures of the training split (dataset of {len(store)})"
            )
        for seed in spec.axes.seed:
            nested_subsets(store, sizes, seed, sampler=spec.split.sampler, split=split)
    return store_dir


def _materialise(out: Path, given: str | None, found, spec: SweepSpec, progress) -> None:
    """Put a whole store at `out`: linked from a prebuilt store, or built from a file, the EMT pool or `found`."""
    from scaling.data.store import build_store
    from scaling.system import available_cores

    if given is not None and is_store(given):
        _link_store(Path(given), out)
        return
    if found is not None and found.structures is not None:
        log.info("building the graph store %s from %s (cutoff %.2f A)", out, found.path, spec.dataset.cutoff)
        build_store(found.path, out, cutoff=spec.dataset.cutoff, structures=found.structures, force=True,
                    progress=progress, workers=available_cores())
        return
    source = Path(given) if given is not None else _emt_source(spec, progress)
    log.info("building the graph store %s from %s (cutoff %.2f A)", out, source, spec.dataset.cutoff)
    build_store(source, out, cutoff=spec.dataset.cutoff, force=True, progress=progress, workers=available_cores())


def _link_store(source: Path, out: Path) -> None:
    """Hard-link (or copy) a store's files into `out`, atomically: a temporary folder renamed into place.
    Store arrays are never written in place (a rebuild writes new files), so sharing their inodes is safe."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    try:
        shutil.copytree(source, tmp, copy_function=link_or_copy, ignore=lambda d, names: [
            n for n in names if Path(d) == source and n in DERIVED])
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("graph store %s linked from the prebuilt store %s", out, source)


def _emt_source(spec: SweepSpec, progress) -> Path:
    from scaling.data.emt import DEFAULT_ELEMENTS, emt_dataset

    emt = spec.dataset.emt
    elements = tuple(emt.elements) if emt.elements else DEFAULT_ELEMENTS
    return emt_dataset(emt.n, seed=emt.seed, elements=elements, progress=progress)
