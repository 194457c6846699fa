"""Readers (extxyz and anything ase.io reads, ASE databases, mlearn pymatgen JSON) and an extxyz writer.

Every reader returns validated `Structure` records with provenance (source file, frame, calculator and settings,
remaining info keys); any problem becomes one InputError line naming the file, frame and value.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from scaling.atomic import atomic_write_text
from scaling.data.structures import Structure, validate_structure
from scaling.errors import InputError

log = logging.getLogger(__name__)

ENERGY_KEYS = ("energy", "REF_energy", "DFT_energy", "free_energy", "total_energy", "Energy")
FORCES_KEYS = ("forces", "REF_forces", "DFT_forces", "force", "Forces")
STRESS_KEYS = ("stress", "REF_stress", "DFT_stress", "Stress")
VIRIAL_KEYS = ("virial", "REF_virial", "DFT_virial", "Virial")
SETTING_KEYS = ("functional", "xc", "hubbard_u", "ldau", "is_hubbard", "encut", "code")
_RESERVED_INFO = set(ENERGY_KEYS) | set(STRESS_KEYS) | set(VIRIAL_KEYS) | {"calculator", "pbc"}
KBAR_TO_GPA = 0.1


def source_sha256(path: str | Path) -> str:
    """SHA-256 of a source file's bytes (recorded in the store manifest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_structures(
    path: str | Path,
    *,
    format: str | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    stress_key: str | None = None,
    index: str = ":",
    progress: Callable[[int, int | None], None] | None = None,
) -> list[Structure]:
    """Read every frame of `path` as validated structures (energy and forces required, stress optional).

    `progress(done, total)` is called as frames are validated (total is None while an ase file is still being read).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    kind = format or _guess_format(path)
    if kind == "mlearn":
        structures = _read_mlearn(path)
    elif kind == "db":
        structures = _read_db(path, energy_key, forces_key, stress_key)
    else:
        structures = _read_ase(path, kind, energy_key, forces_key, stress_key, index, progress)
    if not structures:
        raise InputError(f"{path}: no structures")
    for done, structure in enumerate(structures, start=1):
        validate_structure(structure, f"{path}: frame {structure.provenance['frame']}")
        if progress is not None:
            progress(done, len(structures))
    return structures


def write_extxyz(structures: Iterable[Structure], path: str | Path) -> None:
    """Write structures (labels and provenance as info keys) to extxyz, atomically; equal input, equal bytes."""
    from ase.io import write

    buffer = _io.StringIO()
    write(buffer, [_to_writable_atoms(s) for s in structures], format="extxyz")
    atomic_write_text(path, buffer.getvalue())


def _guess_format(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "mlearn"
    if suffix == ".db":
        return "db"
    if suffix in (".xyz", ".extxyz"):
        return "extxyz"
    return None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


def _to_writable_atoms(structure: Structure):
    atoms = structure.to_atoms()
    prov = structure.provenance
    atoms.info["calculator"] = str(prov.get("calculator", "unknown"))
    for key, value in prov.get("settings", {}).items():
        atoms.info[f"calc_{key}"] = value
    for key, value in prov.get("info", {}).items():
        if key not in _RESERVED_INFO:
            atoms.info[key] = value
    return atoms


def _split_info(info: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(calculator, settings, other info) from an ase info dict; only scalar values are kept."""
    calculator = str(info.get("calculator", "unknown"))
    settings: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in info.items():
        scalar = _scalar(value)
        if scalar is None or key in _RESERVED_INFO:
            continue
        if key.startswith("calc_"):
            settings[key[5:]] = scalar
        elif key in SETTING_KEYS:
            settings[key] = scalar
        else:
            rest[key] = scalar
    return calculator, settings, rest


def _scalar(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    return None


def read_extxyz_range(path: str | Path, start: int, end: int, first_frame: int, *, energy_key: str | None = None,
                      forces_key: str | None = None, stress_key: str | None = None) -> list[Structure]:
    """The validated structures of the whole extxyz frames in bytes [start, end) of `path`, numbered from
    `first_frame` (what `read_structures` gives for those frames): one chunk of a parallel store build."""
    with open(path, "rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode("utf-8", errors="replace")
    structures = _read_ase(path, "extxyz", energy_key, forces_key, stress_key, ":", None,
                           handle=_io.StringIO(text), first_frame=first_frame)
    for structure in structures:
        validate_structure(structure, f"{path}: frame {structure.provenance['frame']}")
    return structures


def _read_ase(path, format, energy_key, forces_key, stress_key, index, progress, *, handle=None,
              first_frame=0) -> list[Structure]:
    """Frames one at a time (ase.io.iread), so a large file never holds all its Atoms objects at once."""
    from ase.io import iread

    structures: list[Structure] = []
    frames = iread(handle if handle is not None else str(path), index=index, format=format)
    while True:
        frame = first_frame + len(structures)
        try:
            atoms = next(frames)
        except StopIteration:
            break
        except Exception as error:  # ase raises many types for a broken file; all mean the same to a user
            kind = format or "format guessed by ase"
            raise InputError(f"{path}: frame {frame}: cannot read ({kind}): {_one_line(error)}") from None
        structures.append(_from_ase_atoms(atoms, path, frame, energy_key, forces_key, stress_key))
        if progress is not None and len(structures) % 100 == 0:
            progress(len(structures), None)
    return structures


def _calc_results(atoms) -> dict[str, Any]:
    calc = getattr(atoms, "calc", None)
    return dict(getattr(calc, "results", {}) or {}) if calc is not None else {}


def _find_energy(atoms, results, key, where) -> float:
    keys = (key,) if key else ENERGY_KEYS
    for name in keys:
        if name in atoms.info:
            return _as_float(atoms.info[name], where, name)
        if name in results:
            return _as_float(results[name], where, name)
    raise InputError(f"{where}: no energy (looked for {', '.join(keys)})")


def _as_float(value, where, name) -> float:
    try:
        return float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise InputError(f"{where}: {name} is not a number: {value!r}") from None


def _find_forces(atoms, results, key, where) -> np.ndarray:
    keys = (key,) if key else FORCES_KEYS
    for name in keys:
        if name in atoms.arrays:
            return np.asarray(atoms.arrays[name], dtype=np.float64)
        if name in results:
            return np.asarray(results[name], dtype=np.float64)
    raise InputError(f"{where}: no forces (looked for {', '.join(keys)})")


def _find_stress(atoms, results, key, where) -> np.ndarray | None:
    """Stress in GPa (ASE sign) from a stress key (eV/A^3) or a virial key (eV), else None."""
    from ase import units

    keys = (key,) if key else STRESS_KEYS
    for name in keys:
        value = atoms.info.get(name, results.get(name))
        if value is not None:
            return _stress_matrix(value, where, name) / units.GPa
    if key is None:
        for name in VIRIAL_KEYS:
            value = atoms.info.get(name, results.get(name))
            if value is not None:
                volume = abs(atoms.get_volume()) if atoms.pbc.all() else 0.0
                if volume <= 0:
                    raise InputError(f"{where}: {name} given for a structure without a 3D periodic cell")
                return -_stress_matrix(value, where, name) / volume / units.GPa
    elif key not in atoms.info and key not in results:
        raise InputError(f"{where}: no stress under key {key}")
    return None


def _stress_matrix(value, where, name) -> np.ndarray:
    from scaling.data.structures import _full_stress

    try:
        return _full_stress(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise InputError(f"{where}: {name}: {_one_line(error)}") from None


def _from_ase_atoms(atoms, path, frame, energy_key, forces_key, stress_key) -> Structure:
    where = f"{path}: frame {frame}"
    results = _calc_results(atoms)
    energy = _find_energy(atoms, results, energy_key, where)
    forces = _find_forces(atoms, results, forces_key, where)
    if forces.shape != (len(atoms), 3):
        raise InputError(f"{where}: forces have shape {forces.shape}, expected ({len(atoms)}, 3)")
    stress = _find_stress(atoms, results, stress_key, where)
    calculator, settings, info = _split_info(atoms.info)
    provenance = {"source": str(path), "frame": frame, "calculator": calculator, "settings": settings, "info": info}
    return Structure.from_atoms(atoms, energy, forces, stress, provenance, id=f"{Path(path).name}:{frame}")


def _read_db(path, energy_key, forces_key, stress_key) -> list[Structure]:
    import ase.db

    try:
        rows = list(ase.db.connect(str(path), type="db").select())
    except Exception as error:
        raise InputError(f"{path}: cannot read as an ASE database: {_one_line(error)}") from None
    structures = []
    for frame, row in enumerate(rows):
        atoms = row.toatoms()
        atoms.info.update(row.key_value_pairs)
        for name, value in (row.get("data") or {}).items():
            target = atoms.arrays if np.ndim(value) == 2 and len(value) == len(atoms) else atoms.info
            target[name] = value
        structure = _from_ase_atoms(atoms, path, frame, energy_key, forces_key, stress_key)
        structure.provenance["info"]["db_id"] = int(row.id)
        structures.append(structure)
    return structures


def _read_mlearn(path) -> list[Structure]:
    """mlearn's pymatgen JSON: virial_stress in kbar, Voigt order, VASP sign -> GPa, ASE sign (x -0.1)."""
    try:
        entries = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: cannot read as JSON: {_one_line(error)}") from None
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a JSON list of mlearn entries, got {type(entries).__name__}")
    from ase.data import atomic_numbers

    structures = []
    for frame, entry in enumerate(entries):
        where = f"{path}: frame {frame}"
        try:
            lattice = np.asarray(entry["structure"]["lattice"]["matrix"], dtype=np.float64)
            sites = entry["structure"]["sites"]
            positions = np.asarray([site["xyz"] for site in sites], dtype=np.float64)
            symbols = [site["species"][0]["element"] for site in sites]
            outputs = entry["outputs"]
            energy = outputs["energy"]
            forces = np.asarray(outputs["forces"], dtype=np.float64)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise InputError(f"{where}: not an mlearn entry (missing or bad {_one_line(error)})") from None
        if energy is None:
            raise InputError(f"{where}: no energy")
        unknown = [s for s in symbols if s not in atomic_numbers]
        if unknown:
            raise InputError(f"{where}: unknown element {unknown[0]!r}")
        if forces.shape != positions.shape:
            raise InputError(f"{where}: forces have shape {forces.shape}, expected {positions.shape}")
        virial = outputs.get("virial_stress")
        stress = None if virial is None else -KBAR_TO_GPA * np.asarray(virial, dtype=np.float64)
        info = {k: entry[k] for k in ("group", "description", "tag") if isinstance(entry.get(k), (str, int, float))}
        provenance = {
            "source": str(path),
            "frame": frame,
            "calculator": "VASP",
            "settings": {"functional": "PBE"},
            "info": info,
        }
        structures.append(
            Structure(
                numbers=[atomic_numbers[s] for s in symbols],
                positions=positions,
                cell=lattice,
                pbc=[True, True, True],
                energy=_as_float(energy, where, "energy"),
                forces=forces,
                stress=stress,
                provenance=provenance,
                id=f"{Path(path).name}:{frame}",
            )
        )
    return structures
