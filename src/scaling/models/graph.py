"""One ase.Atoms -> one graph Data with the fields listed in docs/data.md (the data layer's vesin neighbour list).

The training data come from the data layer's graph store; this conversion serves the ASE calculator (a structure
that changes every MD step) and tests that build small structures directly.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data

from scaling.data.graphs import neighbour_list


def atoms_to_data(atoms, cutoff: float, energy=None, forces=None, stress=None) -> Data:
    """Graph of `atoms` with edges j -> i for every pair closer than `cutoff` (both directions, periodic images).

    Labels (eV, eV/A, GPa as a 3x3 in ASE's sign convention) are attached when given; otherwise zeros.
    """
    positions = np.asarray(atoms.get_positions(), dtype=np.float64)
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    cell = np.asarray(atoms.get_cell().array, dtype=np.float64)
    edge_index, shifts = neighbour_list(positions, cell, pbc, cutoff)
    n = len(atoms)
    has_stress = stress is not None
    return Data(
        z=torch.as_tensor(atoms.get_atomic_numbers(), dtype=torch.long),
        pos=torch.as_tensor(positions, dtype=torch.float32),
        cell=torch.as_tensor(cell, dtype=torch.float32).view(1, 3, 3),
        pbc=torch.as_tensor(pbc).view(1, 3),
        edge_index=torch.as_tensor(edge_index, dtype=torch.long),
        cell_shift=torch.as_tensor(shifts, dtype=torch.float32),
        energy=torch.tensor([0.0 if energy is None else float(energy)], dtype=torch.float32),
        forces=torch.as_tensor(np.zeros((n, 3)) if forces is None else np.asarray(forces), dtype=torch.float32),
        stress=torch.as_tensor(np.zeros((3, 3)) if stress is None else np.asarray(stress), dtype=torch.float32)
        .view(1, 3, 3),
        has_stress=torch.tensor([has_stress]),
        idx=torch.tensor([0]),
    )
