"""Small EMT-labelled structures as graphs, for the model and training tests (no store needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from scaling.models.graph import atoms_to_data
from scaling.train.data import ListSet, RunData

CUTOFF = 4.5


def emt_structure(seed: int, repeat=(2, 2, 1)):
    """A rattled, strained Cu/Al fcc cell with EMT energy, forces and stress (GPa, ASE sign)."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.6 + 0.1 * rng.standard_normal(), cubic=True).repeat(repeat)
    symbols = np.where(rng.random(len(atoms)) < 0.3, "Al", "Cu")
    atoms.set_chemical_symbols(list(symbols))
    strain = np.eye(3) + 0.02 * rng.standard_normal((3, 3))
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    atoms.positions += 0.08 * rng.standard_normal(atoms.positions.shape)
    atoms.calc = EMT()
    return atoms


def emt_graphs(n: int, seed: int = 0, cutoff: float = CUTOFF):
    graphs = []
    for k in range(n):
        atoms = emt_structure(seed * 100_003 + k)
        stress_gpa = atoms.get_stress(voigt=False) * 160.21766208
        graphs.append(atoms_to_data(atoms, cutoff, atoms.get_potential_energy(), atoms.get_forces(), stress_gpa))
    return graphs


def emt_run_data(n_train=24, n_val=8, n_test=8, cutoff: float = CUTOFF) -> RunData:
    graphs = emt_graphs(n_train + n_val + n_test, cutoff=cutoff)
    return RunData(
        ListSet(graphs[:n_train]), ListSet(graphs[n_train:n_train + n_val]), ListSet(graphs[n_train + n_val:]),
        elements=(13, 29), cutoff=cutoff,
    )


def cli_built_store(folder: Path) -> Path:
    """24 EMT Al/Cu structures written as extxyz and built by `scaling data build` (cutoff 4.5 A): FOLDER/store."""
    from scaling.cli import main
    from scaling.data.emt import generate
    from scaling.data.io import write_extxyz

    write_extxyz(generate(24, seed=1, elements=("Al", "Cu"), workers=1), folder / "emt.extxyz")
    assert main(["-q", "data", "build", str(folder / "emt.extxyz"), "--cutoff", "4.5", "--out", str(folder / "store")]) == 0
    return folder / "store"
