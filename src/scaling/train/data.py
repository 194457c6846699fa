"""The three sets a run sees (train / validation / test) as batchable views, from a graph store or from memory.

A view only needs `len()` and `batch(positions) -> Batch`: the store's fast slicing path serves runs, a plain
list of Data serves tests and the calculator. Per-element reference energies are fitted here by least squares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from scaling.data.store import is_store
from scaling.errors import InputError
from scaling.train.config import TrainConfig


class GraphSet(Protocol):
    def __len__(self) -> int: ...

    def batch(self, positions: Sequence[int]) -> Batch: ...


class ListSet:
    """Graphs held in memory."""

    def __init__(self, graphs: Sequence[Data]):
        self.graphs = list(graphs)

    def __len__(self) -> int:
        return len(self.graphs)

    def batch(self, positions: Sequence[int]) -> Batch:
        return Batch.from_data_list([self.graphs[int(k)] for k in positions])


class StoreSet:
    """The structures `indices` of a GraphStore (memory-mapped; batches are sliced from its flat arrays)."""

    def __init__(self, store, indices: np.ndarray):
        self.store = store
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, positions: Sequence[int]) -> Batch:
        return self.store.batch(self.indices[np.asarray(positions, dtype=np.int64)])


@dataclass
class RunData:
    train: GraphSet
    val: GraphSet
    test: GraphSet
    elements: tuple[int, ...]  # atomic numbers the model must know
    cutoff: float  # A, the cutoff the graphs were built with


def _atomic_numbers(symbols: Sequence[str]) -> tuple[int, ...]:
    from ase.data import atomic_numbers

    return tuple(sorted(atomic_numbers[s] for s in symbols))


def load_run_data(config: TrainConfig) -> RunData:
    """Open the store, its fixed split and the nested training subset for (train_size, subset_seed, sampler)."""
    from pathlib import Path

    from scaling.data.store import GraphStore
    from scaling.data.subsets import load_split, training_subset

    if config.store is None:
        raise InputError("train config: field store=None: a graph store directory is required")
    if not is_store(Path(config.store)):
        raise InputError(f"{config.store}: not a graph store (no manifest.json); build one with `scaling data build`")
    store = GraphStore(config.store)
    test_fraction = 0.0 if config.test_store else config.test_fraction
    split = load_split(store, val_fraction=config.val_fraction, test_fraction=test_fraction, seed=config.split_seed)
    seed = config.seed if config.subset_seed is None else config.subset_seed
    size = len(split.train) if config.train_size is None else config.train_size
    train = training_subset(store, size, seed, sampler=config.sampler, split=split)
    elements = set(store.elements)
    if config.test_store:
        if not is_store(Path(config.test_store)):
            raise InputError(f"{config.test_store}: not a graph store (no manifest.json)")
        test_store = GraphStore(config.test_store)
        if abs(test_store.cutoff - store.cutoff) > 1e-9:
            raise InputError(
                f"{config.test_store}: cutoff {test_store.cutoff} differs from {config.store}'s {store.cutoff}"
            )
        test = StoreSet(test_store, np.arange(len(test_store)))
        elements |= set(test_store.elements)
    else:
        test = StoreSet(store, split.test)
    cutoff = float(store.cutoff)
    if config.cutoff is not None and config.cutoff > cutoff + 1e-9:
        raise InputError(f"train config: field cutoff={config.cutoff}: larger than the store's cutoff {cutoff}")
    return RunData(StoreSet(store, train), StoreSet(store, split.val), test, _atomic_numbers(sorted(elements)), cutoff)


def composition_and_energy(graphs: GraphSet, elements: Sequence[int], batch_size: int = 256):
    """(counts [n_structures, n_elements], total energies [n], n_atoms [n]) of a set, for the reference fit."""
    column = {z: k for k, z in enumerate(elements)}
    counts, energies = [], []
    for start in range(0, len(graphs), batch_size):
        batch = graphs.batch(range(start, min(start + batch_size, len(graphs))))
        rows = np.zeros((batch.num_graphs, len(elements)))
        np.add.at(rows, (batch.batch.numpy(), np.array([column[int(z)] for z in batch.z])), 1.0)
        counts.append(rows)
        energies.append(batch.energy.double().numpy())
    counts = np.concatenate(counts)
    return counts, np.concatenate(energies), counts.sum(1)


def fit_reference_energies(graphs: GraphSet, elements: Sequence[int]) -> tuple[np.ndarray, float]:
    """Per-element energies e_z (eV) minimising sum_s (E_s - sum_z n_sz e_z)^2 over the training set, and the RMS
    per-atom residual (eV/atom) that remains (the scale of what the network must learn)."""
    counts, energies, n_atoms = composition_and_energy(graphs, elements)
    reference, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    residual = (energies - counts @ reference) / n_atoms
    return reference, float(np.sqrt(np.mean(residual**2)))


def force_rms(graphs: GraphSet, batch_size: int = 256) -> float:
    """Root mean square force component (eV/A) over a set: the network's output scale."""
    total, count = 0.0, 0
    for start in range(0, len(graphs), batch_size):
        forces = graphs.batch(range(start, min(start + batch_size, len(graphs)))).forces
        total += float((forces.double() ** 2).sum())
        count += forces.numel()
    return float(np.sqrt(total / max(count, 1)))


def to_device(batch: Batch, device: torch.device) -> Batch:
    return batch.to(device) if device.type != "cpu" else batch
