"""The structure record every reader produces and every writer consumes, with its validation."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.errors import InputError

MIN_DISTANCE = 0.5  # A: closer atoms mean a broken input file, not physics


@dataclass
class Structure:
    """One labelled configuration: positions in A, energy in eV, forces in eV/A, stress in GPa (ASE sign)."""

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        self.numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        self.cell = np.asarray(self.cell, dtype=np.float64).reshape(3, 3)
        self.pbc = np.asarray(self.pbc, dtype=bool).reshape(3)
        self.energy = float(self.energy)
        self.forces = np.asarray(self.forces, dtype=np.float64).reshape(-1, 3)
        if self.stress is not None:
            self.stress = _full_stress(np.asarray(self.stress, dtype=np.float64))

    @property
    def n_atoms(self) -> int:
        return int(self.numbers.shape[0])

    @property
    def elements(self) -> tuple[str, ...]:
        from ase.data import chemical_symbols

        return tuple(chemical_symbols[z] for z in sorted(set(self.numbers.tolist())))

    def to_atoms(self):
        """An ase.Atoms with a SinglePointCalculator holding the labels (stress converted to eV/A^3)."""
        from ase import Atoms, units
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)
        results: dict[str, Any] = {"energy": self.energy, "forces": self.forces.copy()}
        if self.stress is not None:
            results["stress"] = self.stress * units.GPa
        atoms.calc = SinglePointCalculator(atoms, **results)
        return atoms

    @classmethod
    def from_atoms(cls, atoms, energy: float, forces, stress=None, provenance=None, id: str = "") -> "Structure":
        """Build from an ase.Atoms plus labels (stress already in GPa, ASE sign)."""
        return cls(
            numbers=atoms.numbers.copy(),
            positions=atoms.positions.copy(),
            cell=np.asarray(atoms.cell[:]),
            pbc=atoms.pbc.copy(),
            energy=energy,
            forces=forces,
            stress=stress,
            provenance=dict(provenance or {}),
            id=id,
        )


def _full_stress(stress: np.ndarray) -> np.ndarray:
    """A 3x3 stress from a 3x3 or a Voigt 6-vector (xx yy zz yz xz xy, ASE's order)."""
    if stress.shape == (3, 3):
        return stress
    if stress.size == 6:
        xx, yy, zz, yz, xz, xy = stress.reshape(6)
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    if stress.size == 9:
        return stress.reshape(3, 3)
    raise ValueError(f"stress has shape {stress.shape}, expected 3x3 or 6 Voigt components")


def provenance_key(structure: Structure) -> str:
    """The provenance group of a structure: its calculator and settings (the reference surface) as one key."""
    prov = structure.provenance
    return settings_key(prov.get("calculator", "unknown"), prov.get("settings", {}))


def settings_key(calculator: str | None, settings: dict) -> str:
    """A canonical string for one reference setting (JSON, sorted keys): equal keys mean one provenance group."""
    return json.dumps({"calculator": calculator, "settings": json_safe(settings)}, sort_keys=True)


def json_safe(value: Any) -> Any:
    """`value` with numpy types, tuples and non-finite floats turned into plain JSON values (keys sorted)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def validate_structure(structure: Structure, where: str) -> None:
    """Refuse what no training should see; `where` names the file and frame for the one-line error."""
    n = structure.n_atoms
    if n == 0:
        raise InputError(f"{where}: no atoms")
    if structure.forces.shape != (n, 3):
        raise InputError(f"{where}: forces have shape {structure.forces.shape}, expected ({n}, 3)")
    if not np.isfinite(structure.positions).all():
        raise InputError(f"{where}: positions contain {_first_bad(structure.positions)}")
    if not np.isfinite(structure.cell).all():
        raise InputError(f"{where}: cell contains {_first_bad(structure.cell)}")
    if not math.isfinite(structure.energy):
        raise InputError(f"{where}: energy is {structure.energy}")
    if not np.isfinite(structure.forces).all():
        raise InputError(f"{where}: forces contain {_first_bad(structure.forces)}")
    if structure.stress is not None and not np.isfinite(structure.stress).all():
        raise InputError(f"{where}: stress contains {_first_bad(structure.stress)}")
    if (structure.numbers < 1).any() or (structure.numbers > 118).any():
        raise InputError(f"{where}: atomic number {int(structure.numbers.min())} out of range")
    for axis in np.flatnonzero(structure.pbc):
        if np.linalg.norm(structure.cell[axis]) < MIN_DISTANCE:
            raise InputError(f"{where}: periodic cell vector {axis} is shorter than {MIN_DISTANCE} A")
    if structure.pbc.any() and abs(np.linalg.det(structure.cell)) < 1e-6:
        raise InputError(f"{where}: periodic structure with a singular cell")
    _check_distances(structure, where)


def _first_bad(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    return str(flat[~np.isfinite(flat)][0])


def _check_distances(structure: Structure, where: str) -> None:
    from scaling.data.graphs import neighbour_list

    edge_index, shifts = neighbour_list(structure.positions, structure.cell, structure.pbc, MIN_DISTANCE)
    if edge_index.shape[1]:
        j, i = (int(v) for v in edge_index[:, 0])
        vector = structure.positions[j] - structure.positions[i] + shifts[0] @ structure.cell
        raise InputError(
            f"{where}: atoms {i} and {j} are {np.linalg.norm(vector):.3f} A apart (closer than {MIN_DISTANCE} A)"
        )
