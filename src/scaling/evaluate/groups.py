"""The `groups` suite: test errors per group label of a labelled structure file (real DFT data).

mlearn JSON files label each structure with a group (Ground, Elastic, Surface, Vacancy, AIMD_NVT, ...), which
`scaling.data.io` keeps in provenance["info"]["group"]; extxyz files may carry the same key (or `group_key`) in
their info. Metrics: `group_<label>_energy_mae` (eV/atom) and `group_<label>_force_mae` (eV/A) per group, with the
label lower-cased and non-alphanumerics as `_`, plus the counts in the details.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from scaling.errors import InputError


def column_label(group: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(group).lower()).strip("_") or "none"


def group_errors(model, suite) -> tuple[dict[str, float], dict[str, list[dict[str, Any]]]]:
    from scaling.data.io import read_structures

    if not suite.data:
        raise InputError("--suite groups: needs a labelled test file (--data FILE, or `data:` in the suite/spec)")
    structures = read_structures(suite.data)
    calculator = model.calculator()
    per_group: dict[str, dict[str, list[float]]] = {}
    for structure in structures:
        info = structure.provenance.get("info", {})
        group = info.get(suite.group_key)
        if group is None:
            continue
        if model.elements is not None and not set(structure.elements) <= set(model.elements):
            raise InputError(f"{suite.data}: {structure.id} has elements {','.join(structure.elements)} the model "
                             f"does not know ({','.join(model.elements)})")
        atoms = structure.to_atoms()
        atoms.calc = calculator
        energy = float(atoms.get_potential_energy())
        forces = atoms.get_forces()
        errors = per_group.setdefault(str(group), {"energy": [], "force": []})
        errors["energy"].append(abs(energy - structure.energy) / structure.n_atoms)
        errors["force"].extend(np.abs(forces - structure.forces).ravel().tolist())
    if not per_group:
        raise InputError(f"{suite.data}: no structure carries a `{suite.group_key}` label")
    metrics: dict[str, float] = {}
    rows = []
    for group, errors in sorted(per_group.items()):
        label = column_label(group)
        energy = float(np.mean(errors["energy"]))
        force = float(np.mean(errors["force"])) if errors["force"] else math.nan
        metrics[f"group_{label}_energy_mae"] = energy
        metrics[f"group_{label}_force_mae"] = force
        rows.append({"group": group, "column": label, "n_structures": len(errors["energy"]),
                     "energy_mae_ev_atom": energy, "force_mae_ev_a": force})
    return metrics, {"groups": rows}
