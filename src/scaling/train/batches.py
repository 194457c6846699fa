"""The training batches of one rank, assembled on the host ahead of the step that needs them.

A step's batch is this rank's contiguous shard of the global batch `order[k*B:(k+1)*B]` (the whole of it in a
1-process run), together with the label counts of the global batch, which the loss divides by. Counts are host
integers read from the store's metadata, so the step never asks the device how many labels it has. `prefetched`
builds the next batches in a background thread while the current one trains (numpy slicing of the memory-mapped
store releases the GIL), and pins them for an asynchronous copy when they are bound for a GPU (a DeviceSet gathers
them on the device instead).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Iterable, Iterator

import numpy as np
from torch_geometric.data import Batch

from scaling.train.data import GraphSet, ListSet, StoreSet
from scaling.train.distributed import World, shard
from scaling.train.losses import NO_LABELS, LabelCounts


@dataclass
class StepBatch:
    """One rank's part of one optimiser step."""

    batch: Batch | None  # this rank's shard on the host; None when the shard is empty (a short last batch)
    counts: LabelCounts  # the shard's labels
    total: LabelCounts  # the global batch's labels: the loss normaliser
    stress: bool  # the shard has stress labels


def label_counts(graphs: GraphSet, positions: np.ndarray) -> LabelCounts:
    """Labels of the structures at `positions` of a set, from metadata where the set has it (no batch built)."""
    if hasattr(graphs, "label_counts"):  # a DeviceSet: its metadata stays on the host
        return graphs.label_counts(positions)
    if isinstance(graphs, StoreSet):
        indices = graphs.indices[positions]
        atoms = int(graphs.store.n_atoms(indices).sum())
        with_stress = int(np.asarray(graphs.store.array("has_stress")[indices]).sum())
        return LabelCounts(len(indices), 3 * atoms, 9 * with_stress)
    if isinstance(graphs, ListSet):
        chosen = [graphs.graphs[int(k)] for k in positions]
        with_stress = sum(int(g.has_stress.sum()) for g in chosen if getattr(g, "stress", None) is not None)
        return LabelCounts(len(chosen), 3 * sum(int(g.pos.shape[0]) for g in chosen), 9 * with_stress)
    return LabelCounts.of(graphs.batch(positions))


def step_batch(graphs: GraphSet, positions: np.ndarray, world: World, pin: bool = False) -> StepBatch:
    """This rank's shard of the global batch at `positions`, with the counts of both."""
    mine = shard(positions, world)
    if len(mine) == 0:
        return StepBatch(None, NO_LABELS, label_counts(graphs, positions), False)
    batch = graphs.batch(mine)
    counts = label_counts(graphs, mine)
    total = label_counts(graphs, positions) if world.distributed else counts
    if pin:
        batch = batch.pin_memory()
    return StepBatch(batch, counts, total, counts.stress_components > 0)


def prefetched(make: Callable[[int], StepBatch], steps: Iterable[int], ahead: int) -> Iterator[StepBatch]:
    """make(step) for each step, `ahead` of them built in advance by one background thread (0: built on demand).
    Close the iterator (contextlib.closing) to drop batches that will not be trained on."""
    if ahead == 0:
        yield from map(make, steps)
        return
    steps = iter(steps)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        pending = deque(pool.submit(make, step) for step in islice(steps, ahead))
        try:
            while pending:
                ready = pending.popleft().result()
                pending.extend(pool.submit(make, step) for step in islice(steps, 1))
                yield ready
        finally:
            for future in pending:
                future.cancel()
