"""Everything about a spec that can be checked before anything is written: the dataset (a file, a graph store or
the EMT generator), the separate test set, each train_size against the training pool the split leaves, and each
params value against the widths the sizer can reach for each arch. Every problem is reported, one line each, and
a refused spec leaves the run folder as it was (`run_sweep` calls this before `RunFolder.freeze`).

The structures read here are handed on to the store build, so a structure file is read once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from scaling.data.store import is_store
from scaling.errors import InputError
from scaling.sweep.spec import SweepSpec


@dataclass
class DataSource:
    """One dataset (the pool or the test set) as found: a graph store to link, or structures to build one from."""

    path: Path | None = None  # the file or store given (None for EMT)
    store: Any = None  # an opened GraphStore when `path` is a store (or the run folder's own store)
    structures: list | None = None  # read from a structure file or the EMT pool

    @property
    def elements(self) -> list[str]:
        if self.store is not None:
            return list(self.store.elements)
        return sorted({e for s in self.structures for e in s.elements})

    @property
    def trajectory(self) -> np.ndarray:
        if self.store is not None:
            return np.asarray(self.store.trajectory)
        from scaling.data.store import trajectory_groups

        return trajectory_groups(self.structures)[0]


@dataclass
class DataPlan:
    pool: DataSource | None = None  # None when the run folder's store exists already
    test: DataSource | None = None
    errors: list[str] = field(default_factory=list)


def check_spec(spec: SweepSpec, source: str, existing_store: Path | None = None,
               existing_test_store: Path | None = None, progress=None) -> DataPlan:
    """Check `spec` (named `source` in messages); raise InputError listing every problem, one per line.

    `existing_store` is the run folder's own store when it was built already: it is the pool then, and the
    dataset source is not read again."""
    plan = DataPlan()
    pool = _open_existing(existing_store) or _pool(spec, source, plan.errors, progress)
    test = None
    if spec.dataset.test_path is not None:
        test = _open_existing(existing_test_store) or _path_source(
            Path(spec.dataset.test_path), "dataset.test_path", spec, source, plan.errors)
    if pool is not None:
        _check_train_sizes(spec, source, pool, plan.errors)
        elements = sorted(set(pool.elements) | set(test.elements if test is not None else ()))
        _check_params(spec, source, elements, _cutoff(spec, pool), plan.errors)
    if plan.errors:
        raise InputError("\n".join(plan.errors))
    plan.pool = None if existing_store is not None and pool is not None else pool
    plan.test = None if existing_test_store is not None and test is not None else test
    return plan


def _open_existing(store: Path | None) -> DataSource | None:
    if store is None or not is_store(store):
        return None
    from scaling.data.store import GraphStore

    try:
        return DataSource(path=store, store=GraphStore(store))
    except Exception as error:  # the run folder's own store damaged: say where, do not trace back
        raise InputError(f"{store}: the run folder's graph store cannot be read ({type(error).__name__}: {error}); "
                         f"move it aside and run again to rebuild it") from None


def _pool(spec: SweepSpec, source: str, errors: list[str], progress) -> DataSource | None:
    if spec.dataset.path is not None:
        return _path_source(Path(spec.dataset.path), "dataset.path", spec, source, errors)
    from scaling.data.emt import DEFAULT_ELEMENTS, check_elements, emt_dataset
    from scaling.data.io import read_structures

    emt = spec.dataset.emt
    try:
        if emt.elements:
            check_elements(emt.elements)
    except InputError as error:
        errors.append(f"{source}: field `dataset.emt.elements` = {list(emt.elements)}: {error.why}")
        return None
    elements = tuple(emt.elements) if emt.elements else DEFAULT_ELEMENTS  # as given: the pool depends on the order
    path = emt_dataset(emt.n, seed=emt.seed, elements=elements, progress=progress)
    return DataSource(path=path, structures=read_structures(path))


def _path_source(path: Path, name: str, spec: SweepSpec, source: str, errors: list[str]) -> DataSource | None:
    """A structure file (read) or a graph store (opened, its cutoff checked against the spec's)."""
    from scaling.data.io import read_structures
    from scaling.data.store import GraphStore

    if not path.exists():
        errors.append(f"{source}: field `{name}` = {str(path)!r}: no such file or graph store")
        return None
    if path.is_dir():
        if not is_store(path):
            errors.append(f"{source}: field `{name}` = {str(path)!r}: a directory but not a graph store "
                          "(no manifest.json; build one with `scaling data build`)")
            return None
        try:
            store = GraphStore(path)
            cutoff = store.cutoff
        except InputError as error:
            errors.append(f"{source}: field `{name}`: {error}")
            return None
        except Exception as error:  # a store whose manifest or arrays cannot be read
            errors.append(f"{source}: field `{name}` = {str(path)!r}: unreadable graph store "
                          f"({type(error).__name__}: {error})")
            return None
        if abs(cutoff - spec.dataset.cutoff) > 1e-9:
            errors.append(f"{source}: field `dataset.cutoff` = {spec.dataset.cutoff}: the store {path} was built "
                          f"with cutoff {cutoff:g} A; set `cutoff: {cutoff:g}` or give the structure file")
            return None
        return DataSource(path=path, store=store)
    try:
        return DataSource(path=path, structures=read_structures(path))
    except InputError as error:
        errors.append(f"{source}: field `{name}`: {error}")
        return None


def _cutoff(spec: SweepSpec, pool: DataSource) -> float:
    return float(pool.store.cutoff) if pool.store is not None else spec.dataset.cutoff


def _check_train_sizes(spec: SweepSpec, source: str, pool: DataSource, errors: list[str]) -> None:
    from types import SimpleNamespace

    from scaling.data.subsets import _make_split

    trajectory = pool.trajectory
    split = _make_split(SimpleNamespace(trajectory=trajectory), spec.split.val_fraction, spec.test_fraction(),
                        spec.split.seed, "preflight")
    too_big = sorted(size for size in spec.axes.train_size if size > len(split.train))
    if too_big:
        errors.append(
            f"{source}: field `axes.train_size` = {too_big}: larger than the {len(split.train)} structures of the "
            f"training pool (dataset of {len(trajectory)}, after taking validation {len(split.val)} and test "
            f"{len(split.test)})")


def _check_params(spec: SweepSpec, source: str, elements: list[str], cutoff: float, errors: list[str]) -> None:
    """Each params value must be within the sizer's tolerance for each in-house arch (the same sizing the cells
    run). Other builders (MACE, plugins) are sized when their cell starts: building one takes seconds per width."""
    import inspect

    from ase.data import atomic_numbers

    from scaling.models import registry
    from scaling.models.potential import ModelConfig
    from scaling.models.sizing import DEPTH_CHOICES, TOLERANCE, size_model
    from scaling.sweep.spec import split_arch
    from scaling.train.config import TrainConfig

    numbers = tuple(sorted(atomic_numbers[e] for e in elements))
    for entry in spec.axes.arch:
        arch, arch_options = split_arch(entry)
        if arch not in registry.IN_HOUSE:
            continue
        config = TrainConfig.from_dict({**spec.training, "params": 1, "arch": arch, "arch_options": arch_options},
                                       source="training")
        accepted = inspect.signature(registry.resolve(arch).build).parameters
        options = {name: getattr(config, name) for name in registry.IN_HOUSE_TRAIN_FIELDS if name in accepted}
        options.update(arch_options)
        base = ModelConfig(arch=arch, width=1, elements=numbers, cutoff=config.cutoff or cutoff, options=options)
        depths = DEPTH_CHOICES if config.fit_depth else (base.depth,)
        for target in spec.axes.params:
            try:
                size_model(target, base, fit_depth=config.fit_depth)
            except InputError:
                errors.append(f"{source}: field `axes.params` = {target} ({arch}, {len(numbers)} elements): no "
                              f"width reaches it within {TOLERANCE:.0%}; {_nearest(target, base, depths)}")


def _nearest(target: int, base, depths) -> str:
    """The reachable counts on either side of `target` (over the allowed depths), worded for a user."""
    from scaling.models.sizing import MAX_WIDTH, count_parameters

    below, above = [], []
    for depth in depths:
        config = base.with_options(depth=depth)
        low, high = 1, MAX_WIDTH
        while low < high:
            mid = (low + high) // 2
            if count_parameters(replace(config, width=mid)) < target:
                low = mid + 1
            else:
                high = mid
        for width in {max(low - 1, 1), low}:
            count = count_parameters(replace(config, width=width))
            (below if count < target else above).append((count, width, depth))
    shown = lambda c: f"{c[0]} (width {c[1]}, depth {c[2]})"  # noqa: E731
    if below and above:
        return f"nearest reachable counts: {shown(max(below))} and {shown(min(above))}"
    if above:
        return f"the smallest model has {shown(min(above))}"
    return f"the largest model has {shown(max(below))}" if below else "no model"
