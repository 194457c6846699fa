"""A training set that lives on the device (`training.data_on_device`): every graph of it in one batch of device
tensors, copied once, and each step's batch gathered there by index. The indices are computed on the host from the
set's pointers (kept on the host), so a step copies a few index arrays instead of the batch, and reads nothing back.
Batches equal the source set's batches field by field (tests/test_train_device_data.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from scaling.data.store import ranges
from scaling.train.data import GraphSet
from scaling.train.losses import LabelCounts

PER_ATOM = ("z", "pos", "forces")
PER_EDGE = ("edge_index", "cell_shift")
PER_GRAPH = ("cell", "pbc", "energy", "stress", "has_stress", "idx")


class DeviceSet:
    """The graphs of `graphs` held on `device`; batch(positions) gathers them there."""

    def __init__(self, graphs: GraphSet, device: torch.device):
        whole = graphs.batch(np.arange(len(graphs)))
        self.device = device
        self.atom_ptr = whole.ptr.numpy()
        self.edge_ptr = whole._slice_dict["edge_index"].numpy()
        self.has_stress = whole.has_stress.numpy().reshape(-1).astype(bool)
        self.fields = {key: whole[key].to(device) for key in (*PER_ATOM, *PER_EDGE, *PER_GRAPH) if key in whole}

    def __len__(self) -> int:
        return len(self.atom_ptr) - 1

    def label_counts(self, positions: Sequence[int]) -> LabelCounts:
        positions = np.asarray(positions, dtype=np.int64)
        atoms = int((self.atom_ptr[positions + 1] - self.atom_ptr[positions]).sum())
        return LabelCounts(len(positions), 3 * atoms, 9 * int(self.has_stress[positions].sum()))

    def batch(self, positions: Sequence[int]) -> Batch:
        positions = np.asarray(positions, dtype=np.int64)
        counts = self.atom_ptr[positions + 1] - self.atom_ptr[positions]
        n_edges = self.edge_ptr[positions + 1] - self.edge_ptr[positions]
        local = np.concatenate([[0], np.cumsum(counts)])
        # host-computed gathers: atom rows, edge rows, and the shift of each edge's atom numbers to the new batch
        index = {
            "atoms": ranges(self.atom_ptr[positions], counts),
            "edges": ranges(self.edge_ptr[positions], n_edges),
            "shift": np.repeat(local[:-1] - self.atom_ptr[positions], n_edges),
            "graphs": positions,
        }
        index = {key: torch.from_numpy(value).to(self.device, non_blocking=True) for key, value in index.items()}
        batch = Batch(_base_cls=Data)
        for key, value in self.fields.items():
            if key in PER_ATOM:
                batch[key] = value[index["atoms"]]
            elif key == "edge_index":
                batch[key] = value[:, index["edges"]] + index["shift"]
            elif key in PER_EDGE:
                batch[key] = value[index["edges"]]
            else:
                batch[key] = value[index["graphs"]]
        graphs = len(positions)
        atom_ptr = torch.from_numpy(local)
        edge_ptr = torch.from_numpy(np.concatenate([[0], np.cumsum(n_edges)]))
        batch.batch = torch.from_numpy(np.repeat(np.arange(graphs), counts)).to(self.device, non_blocking=True)
        batch.ptr = atom_ptr.to(self.device, non_blocking=True)
        batch._slice_dict = {key: atom_ptr if key in PER_ATOM else edge_ptr if key in PER_EDGE
                             else torch.arange(graphs + 1) for key in self.fields}
        zeros = torch.zeros(graphs, dtype=torch.long)
        batch._inc_dict = {key: atom_ptr[:-1] if key == "edge_index" else zeros for key in self.fields}
        batch._num_graphs = graphs
        return batch
