"""Fixed held-out data and nested training subsets, stored as index files next to the graph store.

The validation and test split is fixed per (fractions, seed) and moves whole trajectories (correlated MD frames)
to one side, so held-out frames are not near-copies of training frames. A training subset of size D for a seed is
drawn from the training pool by a sampler; samplers are functions (pool, sizes, seed, store) -> one index array
per size, nested (D1 in D2 in ...). "random" (prefixes of one seeded permutation) lives here; "coverage" lives in
scaling.data.coverage. Index files are written atomically and are pure functions of their names, so concurrent
runs of a sweep that ask for the same subset write the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from scaling.atomic import atomic_write_bytes
from scaling.errors import InputError

Sampler = Callable[[np.ndarray, Sequence[int], int, object], list]


@dataclass(frozen=True)
class Split:
    """Sorted store indices of the training pool, the validation set and the test set."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    name: str


def random_sampler(pool: np.ndarray, sizes: Sequence[int], seed: int, store=None) -> list[np.ndarray]:
    """Prefixes of one permutation of the pool seeded by `seed`: nested by construction."""
    order = np.random.default_rng([seed, len(pool)]).permutation(np.asarray(pool, dtype=np.int64))
    return [order[:size] for size in sizes]


SAMPLERS: dict[str, Sampler] = {"random": random_sampler}


def register_sampler(name: str, sampler: Sampler) -> None:
    """Make `sampler` selectable as sampler=name."""
    SAMPLERS[name] = sampler


def get_sampler(name: str) -> Sampler:
    if name == "coverage" and name not in SAMPLERS:
        from scaling.data.coverage import coverage_sampler

        register_sampler("coverage", coverage_sampler)
    if name not in SAMPLERS:
        raise InputError(f"sampler: unknown sampler {name!r} (known: {', '.join(sorted(SAMPLERS))}, coverage)")
    return SAMPLERS[name]


def _open(store):
    from scaling.data.store import GraphStore

    return store if isinstance(store, GraphStore) else GraphStore(store)


def load_split(store, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> Split:
    """The fixed validation/test split of `store` (created once under STORE/splits/, then read)."""
    store = _open(store)
    for flag, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise InputError(f"{flag}: must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1:
        raise InputError(f"val_fraction + test_fraction: must be below 1, got {val_fraction + test_fraction}")
    name = f"val{val_fraction:g}-test{test_fraction:g}-seed{seed}"
    path = store.path / "splits" / f"{name}.npz"
    if path.is_file():
        with np.load(path) as saved:
            return Split(saved["train"], saved["val"], saved["test"], name)
    split = _make_split(store, val_fraction, test_fraction, seed, name)
    buffer = io.BytesIO()
    np.savez(buffer, train=split.train, val=split.val, test=split.test)
    atomic_write_bytes(path, buffer.getvalue())
    return split


def _make_split(store, val_fraction: float, test_fraction: float, seed: int, name: str) -> Split:
    """Shuffle whole trajectories; give test, then validation, whole trajectories until each reaches its count."""
    trajectory = store.trajectory
    n = len(trajectory)
    units, inverse = np.unique(trajectory, return_inverse=True)
    order = np.random.default_rng([seed, n]).permutation(len(units))
    sizes = np.bincount(inverse, minlength=len(units))[order]
    test_end = _units_to_reach(sizes, round(test_fraction * n))
    val_end = test_end + _units_to_reach(sizes[test_end:], round(val_fraction * n))
    test_units, val_units = order[:test_end], order[test_end:val_end]
    side = np.zeros(len(units), dtype=np.int8)
    side[val_units] = 1
    side[test_units] = 2
    per_structure = side[inverse]
    return Split(*(np.flatnonzero(per_structure == k).astype(np.int64) for k in (0, 1, 2)), name=name)


def _units_to_reach(sizes: np.ndarray, target: int) -> int:
    """How many leading units it takes for their sizes to add up to at least `target` (0 for a zero target)."""
    if target <= 0:
        return 0
    return min(int(np.searchsorted(np.cumsum(sizes), target, side="left")) + 1, len(sizes))


def training_subset(store, size: int | None, seed: int, sampler: str = "random", split: Split | None = None):
    """Store indices (sorted) of the training subset of `size` for `seed`; None means the whole training pool."""
    store = _open(store)
    split = split or load_split(store)
    if size is None:
        return split.train.copy()
    return nested_subsets(store, [size], seed, sampler, split)[int(size)]


def nested_subsets(
    store, sizes: Sequence[int], seed: int, sampler: str = "random", split: Split | None = None
) -> dict[int, np.ndarray]:
    """{size: sorted store indices} for every size, nested (each is contained in the next larger one)."""
    store = _open(store)
    split = split or load_split(store)
    sizes = sorted({int(s) for s in sizes})
    pool = split.train
    for size in sizes:
        if size < 1:
            raise InputError(f"train_size: must be at least 1, got {size}")
        if size > len(pool):
            raise InputError(
                f"{store.path}: train_size {size} is larger than the training pool ({len(pool)} structures"
                f" after the {split.name} split)"
            )
    folder = store.path / "subsets" / split.name
    paths = {size: folder / f"{sampler}-seed{seed}-D{size}.npy" for size in sizes}
    missing = [size for size in sizes if not paths[size].is_file()]
    if missing:
        drawn = get_sampler(sampler)(pool, missing, seed, store)
        for size, indices in zip(missing, drawn):
            indices = np.sort(np.asarray(indices, dtype=np.int64))
            if len(indices) != size or len(np.unique(indices)) != size or not np.isin(indices, pool).all():
                raise ValueError(f"sampler {sampler!r} returned {len(indices)} indices for size {size}, not from the pool")
            buffer = io.BytesIO()
            np.save(buffer, indices)
            atomic_write_bytes(paths[size], buffer.getvalue())
    subsets = {size: np.load(paths[size]) for size in sizes}
    for small, large in zip(sizes, sizes[1:]):
        if not np.isin(subsets[small], subsets[large]).all():
            raise ValueError(f"sampler {sampler!r}: subset D={small} is not contained in D={large} (seed {seed})")
    return subsets
