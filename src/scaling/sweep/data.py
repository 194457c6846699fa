"""The one dataset and graph-store build that every cell of a sweep shares (RUN_DIR/data/store).

The driver builds it before any cell starts, under a file lock, into a temporary folder renamed into place, so a
kill at any moment leaves either no store or a whole one. The validation/test split and every nested training
subset are written next to the store here too, so cells only read them.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
from pathlib import Path

from scaling.sweep.runfolder import RunFolder
from scaling.sweep.spec import SweepSpec

log = logging.getLogger(__name__)


def store_path(folder: RunFolder) -> Path:
    return folder.data_dir / "store"


def prepare_data(folder: RunFolder, spec: SweepSpec, progress=None) -> Path:
    """Build (once) the sweep's graph store and its split and subset index files; returns the store's path."""
    from scaling.data.store import GraphStore, build_store
    from scaling.data.subsets import load_split, nested_subsets

    store_dir = store_path(folder)
    folder.data_dir.mkdir(parents=True, exist_ok=True)
    with open(folder.data_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (store_dir / "manifest.json").is_file():
            source = _source(spec, progress)
            partial = folder.data_dir / "store.partial"
            shutil.rmtree(partial, ignore_errors=True)
            log.info("building the graph store from %s (cutoff %.2f A)", source, spec.dataset.cutoff)
            build_store(source, partial, cutoff=spec.dataset.cutoff, force=True, progress=progress)
            partial.rename(store_dir)
        store = GraphStore(store_dir)
        split = load_split(store, val_fraction=spec.split.val_fraction, test_fraction=spec.split.test_fraction,
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


def _source(spec: SweepSpec, progress) -> Path:
    if spec.dataset.path is not None:
        return Path(spec.dataset.path)
    from scaling.data.emt import DEFAULT_ELEMENTS, emt_dataset

    emt = spec.dataset.emt
    elements = tuple(emt.elements) if emt.elements else DEFAULT_ELEMENTS
    return emt_dataset(emt.n, seed=emt.seed, elements=elements, progress=progress)
