"""Reference-surface consistency: provenance groups, the selective-U pattern, and per-element energy shifts.

A dataset defines one potential-energy surface only if all its labels come from one reference setting (code,
functional, Hubbard U, ...). Materials Project style data apply U to a few transition metals only in cells that also
hold O or F; a local model then learns the step between the two surfaces as a spurious interaction. `check_records`
finds such mixtures; `fit_energy_shifts` and `apply_energy_shifts` remove the step with one constant energy per
U-corrected atom, fitted on structures computed under both settings.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase.data import chemical_symbols

from scaling.data.structures import json_safe, settings_key
from scaling.errors import InputError

log = logging.getLogger(__name__)

U_METALS = ("V", "W", "Fe", "Ni", "Co", "Cr", "Mo", "Mn")
"""Metals that Materials Project style workflows treat with a Hubbard U (only in cells with O or F)."""
U_ANIONS = ("O", "F")

_U_VALUE_KEYS = {"hubbard_u", "hubbard", "u", "u_values", "hubbard_u_values", "ldau_u", "ldauu"}
_U_FLAG_KEYS = {"ldau", "is_hubbard", "hubbard_corrected", "use_u", "plus_u"}
_PER_ELEMENT_U_KEY = re.compile(r"^(?:hubbard_)?u_([a-z]{1,2})$")
_PLUS_U_TEXT_KEYS = {"functional", "xc", "run_type", "calc_type", "method", "level_of_theory"}
_NO_VALUES = {"", "none", "no", "false", "f", "off", "0", "0.0", "null", "n/a", "na"}
_YES_VALUES = {"true", "t", "yes", "on"}
_ELEMENT_VALUE = re.compile(r"([A-Z][a-z]?)\s*[:=]?\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")
_UNLABELLED_CALCULATORS = {"", "unknown", "singlepointcalculator", "singlepoint", "none"}


@dataclass(frozen=True)
class LabelRecord:
    """What the provenance checks need of one structure: its elements and its reference settings."""

    elements: frozenset[str]
    calculator: str | None
    settings: dict

    @property
    def has_provenance(self) -> bool:
        return bool(self.settings) or (self.calculator or "").strip().lower() not in _UNLABELLED_CALCULATORS

    @property
    def key(self) -> str:
        return settings_key(self.calculator, self.settings)


def record_of(structure) -> LabelRecord:
    """The LabelRecord of a `scaling.data.structures.Structure`."""
    provenance = structure.provenance or {}
    symbols = {chemical_symbols[int(z)] for z in np.unique(structure.numbers)}
    return LabelRecord(frozenset(symbols), provenance.get("calculator"), dict(provenance.get("settings") or {}))


def records_of_store(store) -> list[LabelRecord]:
    """LabelRecords of every structure of a GraphStore, from its provenance groups and atomic numbers."""
    records = []
    for k in range(len(store)):
        group = store.provenance_group(k)
        symbols = {chemical_symbols[int(n)] for n in np.unique(store.numbers(k))}
        records.append(LabelRecord(frozenset(symbols), group.get("calculator"), dict(group.get("settings") or {})))
    return records


# --- Hubbard U ---------------------------------------------------------------------------------------------------


def _parse_u_value(value: Any) -> dict[str, float] | bool | None:
    """One U setting value -> {element: U} where per-element, True/False where only on/off, None if unreadable."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items() if float(v) != 0.0}
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value) != 0.0
    if isinstance(value, (list, tuple)):
        return any(float(v) != 0.0 for v in value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _NO_VALUES:
            return False
        if text.lower() in _YES_VALUES:
            return True
        if text.startswith("{"):
            try:
                return _parse_u_value(json.loads(text))
            except (json.JSONDecodeError, TypeError, ValueError):
                pass
        pairs = _ELEMENT_VALUE.findall(text)
        if pairs:
            return {element: float(u) for element, u in pairs if float(u) != 0.0}
        try:
            return float(text) != 0.0
        except ValueError:
            return None
    return None


def hubbard_u_elements(record: LabelRecord) -> dict[str, float] | None:
    """Elements of this cell that carry a Hubbard U ({element: U in eV, NaN where only 'on' is known}).

    None where the settings say nothing about U. A bare "U on" (a flag, a nonzero number, "PBE+U") means the
    U_METALS present in the cell.
    """
    per_element: dict[str, float] = {}
    switched_on: bool | None = None
    for name, value in record.settings.items():
        key = str(name).lower()
        if key.startswith("calc_"):
            key = key[5:]
        match = _PER_ELEMENT_U_KEY.match(key)
        if key in _U_VALUE_KEYS or key in _U_FLAG_KEYS:
            parsed = _parse_u_value(value)
        elif match and match.group(1).capitalize() in chemical_symbols:
            number = _parse_u_value(value)
            parsed = {match.group(1).capitalize(): float(value)} if number else number
        elif key in _PLUS_U_TEXT_KEYS and isinstance(value, str):
            parsed = True if re.search(r"\+\s*u\b", value, flags=re.IGNORECASE) else None
        else:
            continue
        if isinstance(parsed, dict):
            per_element.update(parsed)
            switched_on = switched_on or bool(parsed)
        elif parsed is not None:
            switched_on = bool(switched_on) or parsed
    if switched_on is None and not per_element:
        return None
    if per_element:
        return {el: u for el, u in per_element.items() if el in record.elements}
    if switched_on:
        return {el: float("nan") for el in U_METALS if el in record.elements}
    return {}


# --- check -------------------------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One problem with a dataset's reference surface."""

    kind: str  # "mixed_reference_surface" | "selective_u" | "mixed_u" | "missing_provenance"
    message: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, **json_safe(self.details)}


@dataclass
class CheckReport:
    """Provenance groups of a dataset and what is wrong with them (no findings: one consistent surface)."""

    n_structures: int
    provenance_groups: list[dict]
    findings: list[Finding]

    @property
    def consistent(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        return {
            "n_structures": self.n_structures,
            "consistent": self.consistent,
            "provenance_groups": self.provenance_groups,
            "findings": [finding.to_dict() for finding in self.findings],
        }


def provenance_groups(records: Sequence[LabelRecord]) -> list[dict]:
    """One entry per distinct (calculator, settings): its settings, count, elements and U elements, largest first."""
    by_key: dict[str, list[LabelRecord]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record)
    groups = []
    for members in by_key.values():
        first = members[0]
        u_elements = sorted({el for r in members for el in (hubbard_u_elements(r) or {})})
        groups.append(
            {
                "calculator": first.calculator,
                "settings": json_safe(first.settings),
                "count": len(members),
                "elements": sorted(set().union(*(r.elements for r in members))),
                "hubbard_u_elements": u_elements,
            }
        )
    return sorted(groups, key=lambda g: (-g["count"], json.dumps(g["settings"], sort_keys=True)))


def check_records(records: Sequence[LabelRecord]) -> CheckReport:
    """Group by reference settings and report mixtures; InputError where no structure carries any provenance."""
    if not records:
        raise InputError("no structures to check")
    labelled = [r for r in records if r.has_provenance]
    if not labelled:
        raise InputError(
            "no provenance keys: no structure has a calculator or reference settings "
            "(info keys such as functional, hubbard_u, code, calc_*)"
        )
    groups = provenance_groups(records)
    findings: list[Finding] = []
    if len(labelled) < len(records):
        findings.append(
            Finding(
                "missing_provenance",
                f"{len(records) - len(labelled)} of {len(records)} structures carry no reference settings",
                {"n_missing": len(records) - len(labelled)},
            )
        )
    if len(groups) > 1:
        findings.append(_mixed_surface_finding(groups))
    findings.extend(_u_findings(labelled))
    return CheckReport(len(records), groups, findings)


def _mixed_surface_finding(groups: list[dict]) -> Finding:
    keys = sorted({k for g in groups for k in g["settings"]})
    differing = [k for k in keys if len({json.dumps(g["settings"].get(k)) for g in groups}) > 1]
    if len({g["calculator"] for g in groups}) > 1:
        differing.insert(0, "calculator")
    counts = ", ".join(str(g["count"]) for g in groups)
    return Finding(
        "mixed_reference_surface",
        f"{len(groups)} reference settings ({counts} structures) differing in {', '.join(differing) or 'nothing'}",
        {"n_groups": len(groups), "differing_keys": differing},
    )


def _u_findings(records: Sequence[LabelRecord]) -> list[Finding]:
    findings = []
    u_of = [hubbard_u_elements(r) for r in records]
    for metal in U_METALS:
        with_u = [r for r, u in zip(records, u_of) if u is not None and metal in r.elements and metal in u]
        without_u = [r for r, u in zip(records, u_of) if u is not None and metal in r.elements and metal not in u]
        if not with_u or not without_u:
            continue
        anion = lambda r: bool(r.elements & set(U_ANIONS))  # noqa: E731
        details = {
            "element": metal,
            "n_with_u": len(with_u),
            "n_with_u_with_anion": sum(map(anion, with_u)),
            "n_without_u": len(without_u),
            "n_without_u_with_anion": sum(map(anion, without_u)),
        }
        if all(map(anion, with_u)):
            findings.append(
                Finding(
                    "selective_u",
                    f"{metal} carries a Hubbard U only in cells with O or F ({len(with_u)} cells) and none in "
                    f"{len(without_u)} other cells: two reference surfaces a local model cannot reconcile",
                    details,
                )
            )
        else:
            findings.append(
                Finding("mixed_u", f"{metal} has a Hubbard U in {len(with_u)} cells and none in {len(without_u)}", details)
            )
    return findings


# --- correct -----------------------------------------------------------------------------------------------------


@dataclass
class ShiftFit:
    """Per-element energy shifts (eV per U-corrected atom) fitted on paired calculations."""

    shifts: dict[str, float]
    target_calculator: str | None
    target_settings: dict
    n_pairs: int
    mae_before: float  # mean |E_U - E_plain| / n_atoms over the pairs, eV/atom
    mae_after: float  # the same after subtracting the fitted shifts, eV/atom

    def to_dict(self) -> dict:
        return {
            "shifts_eV_per_atom": self.shifts,
            "target": {"calculator": self.target_calculator, "settings": json_safe(self.target_settings)},
            "n_pairs": self.n_pairs,
            "pairs_mean_abs_dE_per_atom_before_eV": self.mae_before,
            "pairs_mean_abs_dE_per_atom_after_eV": self.mae_after,
        }


def match_key(structure, by: str = "geometry") -> str:
    """The key that pairs one structure computed under two settings.

    "geometry": identical atomic numbers, positions and cell (to 1e-4 A), independent of ids and file order.
    "id": the structure's id (for files whose writer sets a shared id per configuration).
    """
    if by == "id":
        return str(structure.id)
    if by != "geometry":
        raise InputError(f"--match: unknown value {by!r} (expected geometry or id)")
    numbers = np.asarray(structure.numbers, dtype=np.int64)
    quantised = np.rint(np.concatenate([np.asarray(structure.positions), np.asarray(structure.cell)]) * 1e4)
    return numbers.tobytes().hex() + ":" + quantised.astype(np.int64).tobytes().hex()


def fit_energy_shifts(source: Sequence, paired: Sequence, *, by: str = "geometry", where: str = "paired") -> ShiftFit:
    """Fit one shift per U-corrected element: E_U - E_plain = sum_el n_el * shift_el (least squares over pairs).

    A pair is one configuration (by `match_key`) present with U and without U, among `source` and `paired` together
    (so a paired file may hold either the other setting of source structures, or both settings itself).
    """
    entries: dict[str, list] = {}
    for structure in list(source) + list(paired):
        entries.setdefault(match_key(structure, by), []).append(structure)
    pairs = []
    for members in entries.values():
        with_u = [s for s in members if hubbard_u_elements(record_of(s))]
        plain = [s for s in members if hubbard_u_elements(record_of(s)) == {}]
        if with_u and plain:
            pairs.append((with_u[0], plain[0]))
    if not pairs:
        raise InputError(
            f"{where}: no structure matches a source structure under the other U setting (matched by {by}); "
            "a pair needs the same configuration with and without Hubbard U"
        )
    targets = {settings_key(p.provenance.get("calculator"), p.provenance.get("settings") or {}) for _, p in pairs}
    if len(targets) > 1:
        raise InputError(f"{where}: the plain (no U) side of the pairs has {len(targets)} different reference settings")
    elements = sorted({el for u, _ in pairs for el in hubbard_u_elements(record_of(u))})
    counts = np.array([_u_counts(u, elements) for u, _ in pairs], dtype=float)
    delta = np.array([u.energy - p.energy for u, p in pairs], dtype=float)
    n_atoms = np.array([len(u.numbers) for u, _ in pairs], dtype=float)
    if np.linalg.matrix_rank(counts) < len(elements):
        raise InputError(
            f"{where}: the pairs cannot separate the shifts of {', '.join(elements)} "
            "(their U-atom counts are linearly dependent); add pairs with other compositions"
        )
    shifts, *_ = np.linalg.lstsq(counts, delta, rcond=None)
    plain = pairs[0][1].provenance
    fit = ShiftFit(
        shifts={el: float(s) for el, s in zip(elements, shifts)},
        target_calculator=plain.get("calculator"),
        target_settings=dict(plain.get("settings") or {}),
        n_pairs=len(pairs),
        mae_before=float(np.mean(np.abs(delta) / n_atoms)),
        mae_after=float(np.mean(np.abs(delta - counts @ shifts) / n_atoms)),
    )
    log.info("fitted shifts %s eV/atom on %d pairs", fit.shifts, fit.n_pairs)
    return fit


def _u_counts(structure, elements: Sequence[str]) -> list[int]:
    u_elements = hubbard_u_elements(record_of(structure)) or {}
    symbols = [chemical_symbols[int(z)] for z in structure.numbers]
    return [symbols.count(el) if el in u_elements else 0 for el in elements]


def apply_energy_shifts(structures: Iterable, fit: ShiftFit, *, where: str = "source") -> list:
    """Corrected copies: every structure with U gets E - sum n_el * shift_el and the target reference settings.

    The provenance records what was done: info keys `energy_correction_eV` (the change of total energy, eV),
    `energy_correction` (the shifts used) and `corrected_from` (JSON of the original calculator and settings).
    """
    out = []
    for structure in structures:
        u_elements = hubbard_u_elements(record_of(structure))
        if not u_elements:
            out.append(structure)
            continue
        missing = sorted(set(u_elements) - set(fit.shifts))
        if missing:
            raise InputError(
                f"{where}: structure {structure.id} has a Hubbard U on {', '.join(missing)}, "
                "an element absent from the pairs (no shift can be fitted for it)"
            )
        counts = _u_counts(structure, sorted(fit.shifts))
        change = -float(np.dot(counts, [fit.shifts[el] for el in sorted(fit.shifts)]))
        provenance = dict(structure.provenance)
        info = dict(provenance.get("info") or {})
        info["energy_correction_eV"] = change
        info["energy_correction"] = " ".join(f"{el}:{fit.shifts[el]:+.6f}eV/atom" for el in sorted(u_elements))
        info["corrected_from"] = settings_key(provenance.get("calculator"), provenance.get("settings") or {})
        provenance.update(calculator=fit.target_calculator, settings=dict(fit.target_settings), info=info)
        out.append(dataclasses.replace(structure, energy=float(structure.energy) + change, provenance=provenance))
    return out
