"""Equilibrium properties of bulk cells: equation of state (ase.eos) and cubic elastic constants (stress-strain).

Each function takes one calculator and returns plain numbers, so the same code runs for the model and the reference.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from scaling.evaluate.structures import Case

NAN = math.nan


def equation_of_state(case: Case, calculator, points: int, spread: float) -> dict[str, float]:
    """Energies on a grid of lattice constants, fitted with ase.eos (Birch-Murnaghan): a0 (A), B (GPa), e0/atom (eV).

    When the grid's lowest energy sits on an end point, the grid is re-centred there once, so a potential whose
    minimum lies outside +-spread is still fitted rather than extrapolated."""
    centre = case.lattice
    for _ in range(2):
        lattices = centre * np.linspace(1 - spread, 1 + spread, points)
        volumes, energies = [], []
        for lattice in lattices:
            atoms = case.atoms(lattice)
            atoms.calc = calculator
            volumes.append(atoms.get_volume())
            energies.append(atoms.get_potential_energy())
        lowest = int(np.argmin(energies)) if np.all(np.isfinite(energies)) else points // 2
        if 0 < lowest < points - 1:
            break
        centre = float(lattices[lowest])
    return fit_eos(np.array(volumes), np.array(energies), n_atoms=4)


def fit_eos(volumes: np.ndarray, energies: np.ndarray, n_atoms: int) -> dict[str, float]:
    from ase.eos import EquationOfState
    from ase.units import GPa

    try:
        if not np.all(np.isfinite(energies)):
            raise ValueError("non-finite energy")
        with warnings.catch_warnings():  # a curve without a minimum makes ase's fit warn; it is caught below
            warnings.simplefilter("ignore")
            v0, e0, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
        if not (np.isfinite(v0) and volumes.min() <= v0 <= volumes.max()):
            raise ValueError("no minimum within the sampled volumes")
    except Exception:  # no minimum or a failed fit: the property is undefined for this calculator
        return {"lattice_constant": NAN, "bulk_modulus": NAN, "energy_per_atom": NAN}
    return {"lattice_constant": float(v0 ** (1 / 3)), "bulk_modulus": float(b / GPa),
            "energy_per_atom": float(e0 / n_atoms)}


def elastic_constants(case: Case, lattice: float, calculator, strain: float) -> dict[str, float]:
    """C11, C12, C44 (GPa) of a cubic cell by central differences of the stress under +-strain (symmetric strain
    tensors: e_xx for C11 and C12, engineering shear gamma_yz = strain for C44). A monatomic fcc cell has no
    internal relaxation under homogeneous strain, so none is done."""
    from ase.units import GPa

    if not np.isfinite(lattice):
        return {"c11": NAN, "c12": NAN, "c44": NAN}

    def stress(tensor: np.ndarray) -> np.ndarray:
        atoms = case.atoms(lattice)
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + tensor), scale_atoms=True)
        atoms.calc = calculator
        return atoms.get_stress(voigt=False) / GPa

    normal = np.zeros((3, 3))
    normal[0, 0] = strain
    shear = np.zeros((3, 3))
    shear[1, 2] = shear[2, 1] = strain / 2
    d_normal = (stress(normal) - stress(-normal)) / (2 * strain)
    d_shear = (stress(shear) - stress(-shear)) / (2 * strain)
    return {"c11": float(d_normal[0, 0]), "c12": float(d_normal[1, 1]), "c44": float(d_shear[1, 2])}
