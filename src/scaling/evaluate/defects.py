"""Defect energies of an element at a calculator's own lattice constant: the vacancy formation energy of a
32-atom cell and the (111) and (100) surface energies, each after relaxing positions with ase.optimize (BFGS)."""

from __future__ import annotations

import math

import numpy as np
from ase.units import J

from scaling.evaluate.structures import Case

EV_PER_A2_TO_J_PER_M2 = 1e20 / J  # 1 eV/A^2 = 16.02 J/m^2


def relaxed_energy(atoms, calculator, fmax: float, steps: int) -> float:
    """Potential energy after BFGS on the positions (cell fixed); NaN when the calculator gives non-finite values."""
    from ase.optimize import BFGS

    atoms.calc = calculator
    try:
        BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
        energy = float(atoms.get_potential_energy())
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return math.nan
    return energy if np.isfinite(energy) else math.nan


def vacancy_formation(case: Case, lattice: float, calculator, fmax: float, steps: int) -> float:
    """E_vac = E(N-1, relaxed) - (N-1)/N E(N) in eV, N = 32 (a 2x2x2 cubic cell)."""
    if not np.isfinite(lattice):
        return math.nan
    perfect = case.atoms(lattice, repeat=2)
    perfect.calc = calculator
    n = len(perfect)
    e_perfect = float(perfect.get_potential_energy())
    defect = case.atoms(lattice, repeat=2)
    del defect[0]
    return relaxed_energy(defect, calculator, fmax, steps) - (n - 1) / n * e_perfect


def surface_energy(element: str, facet: str, lattice: float, bulk_energy_per_atom: float, calculator,
                   layers: int, vacuum: float, fmax: float, steps: int) -> float:
    """gamma = (E_slab - n e_bulk) / (2 A) in J/m^2 of a relaxed 2x2 (111) or (100) slab."""
    from ase.build import fcc100, fcc111

    if not (np.isfinite(lattice) and np.isfinite(bulk_energy_per_atom)):
        return math.nan
    build = fcc111 if facet == "111" else fcc100
    slab = build(element, size=(2, 2, layers), a=lattice, vacuum=vacuum)
    area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    energy = relaxed_energy(slab, calculator, fmax, steps)
    return (energy - len(slab) * bulk_energy_per_atom) / (2 * area) * EV_PER_A2_TO_J_PER_M2
