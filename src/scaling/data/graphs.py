"""Periodic neighbour lists with vesin, in the layout the graph store and the models use.

Edges are a full list (both directions), row 0 of `edge_index` is the neighbour j (source), row 1 the centre i
(target), and the edge vector is r_ij = pos[j] - pos[i] + S @ cell with integer shifts S (vesin's convention).
Mixed periodicity (slabs) is handed to vesin as is; without a cell, the box is ignored.
"""

from __future__ import annotations

import numpy as np


def neighbour_list(positions, cell, pbc, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges within `cutoff` (A): (edge_index int64 [2, E], cell_shift int64 [E, 3]), sorted by (i, j, S)."""
    from vesin import NeighborList

    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.ascontiguousarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    if not pbc.any():
        cell = np.zeros((3, 3))
    else:
        cell = cell.copy()
        for axis in np.flatnonzero(~pbc):
            if not cell[axis].any():
                cell[axis] = _orthogonal_vector(cell, axis)
    i, j, shifts = NeighborList(cutoff=float(cutoff), full_list=True).compute(
        points=positions, box=cell, periodic=pbc.tolist() if pbc.any() else False, quantities="ijS"
    )
    i = i.astype(np.int64)
    j = j.astype(np.int64)
    shifts = shifts.astype(np.int64).reshape(-1, 3)
    order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], j, i))
    edge_index = np.stack([j[order], i[order]])
    return edge_index, shifts[order]


def _orthogonal_vector(cell: np.ndarray, axis: int) -> np.ndarray:
    """A unit vector normal to the other two lattice vectors, for a non-periodic axis given as zeros."""
    others = [cell[k] for k in range(3) if k != axis]
    normal = np.cross(others[0], others[1])
    norm = np.linalg.norm(normal)
    if norm == 0:
        normal, norm = np.eye(3)[axis], 1.0
    return normal / norm
