"""Suite definitions: which properties, on which structures, at what size. Every size is a field, so a YAML file
can reshape a suite (`scaling evaluate MODEL --suite my.yaml`), and `emt-light` is the cheap preset a sweep or the
demo runs after every cell.

The sizes of `emt` keep the whole suite cheap on a CPU (docs/usecase.md gives the measured budget): small cells
(4-atom elastic cells, 32-atom vacancy and MD cells, 20-atom slabs), a few hundred MD steps, relaxations capped.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from scaling.errors import InputError

# Property families of the emt suite and the metrics each reports (the names in the JSON's "metrics").
FAMILIES: dict[str, tuple[str, ...]] = {
    "eos": ("lattice_constant_error_pct", "bulk_modulus_error_pct"),
    "elastic": ("c11_error_pct", "c12_error_pct", "c44_error_pct"),
    "vacancy": ("vacancy_formation_error_ev",),
    "surface": ("surface_energy_error_pct",),
    "hot_forces": ("hot_force_mae_ev_a", "force_softening", "force_softening_error"),
    "md_ramp": ("md_failure_temperature_k",),
    "nve": ("nve_drift_mev_atom_ps",),
}
# The embedded pool samples 300-1800 K (scaling.data.emt.TEMPERATURES_K, mean 1050 K); hot structures come from
# MD at 2x and 3x that mean, temperatures the pool never uses.
POOL_MEAN_TEMPERATURE_K = 1050.0


@dataclass(frozen=True)
class EmtSuite:
    """Properties compared with EMT. Temperatures in K, times in fs, distances in A, energies in eV."""

    name: str = "emt"
    families: tuple[str, ...] = tuple(FAMILIES)
    elements: tuple[str, ...] | None = None        # None: the model's metals (or the pool's default metals)
    max_elements: int = 7
    alloys: int = 2                                 # element pairs that each give an L1_2 and an L1_0 alloy
    seed: int = 0
    eos_points: int = 7
    eos_range: float = 0.04                         # lattice constants a0 * (1 +- eos_range)
    strain: float = 0.005                           # symmetric +- strain for the elastic constants
    relax_fmax: float = 0.02                        # eV/A
    relax_steps: int = 60
    slab_layers: int = 5
    vacuum: float = 6.0
    hot_temperatures_k: tuple[float, ...] = (2 * POOL_MEAN_TEMPERATURE_K, 3 * POOL_MEAN_TEMPERATURE_K)
    hot_frames: int = 2                             # frames per (cell, temperature)
    hot_steps_between: int = 15
    md_cells: int = 3                               # cells of the heating ramp (and of the hot structures)
    ramp_start_k: float = 300.0
    ramp_top_k: float = 2500.0
    ramp_steps: int = 250
    timestep_fs: float = 4.0
    friction_per_fs: float = 0.02
    check_every: int = 5                            # steps between break checks against the reference
    min_distance_fraction: float = 0.6              # break: a pair closer than this x the nearest-neighbour distance
    energy_tolerance_ev: float = 0.3                # break: |E_model - E_ref| per atom above this
    nve_steps: int = 200
    nve_timestep_fs: float = 2.0
    nve_temperature_k: float = 600.0

    def metric_names(self) -> list[str]:
        return [name for family in self.families for name in FAMILIES[family]]


@dataclass(frozen=True)
class GroupsSuite:
    """Test errors per group label of a structure file (mlearn JSON `group`, or an extxyz/ASE info key)."""

    name: str = "groups"
    data: str | None = None                         # the labelled test file
    group_key: str = "group"
    batch: int = 1

    def metric_names(self) -> list[str]:
        return []  # one pair per group found in the data: group_<label>_energy_mae, group_<label>_force_mae


# The light preset: 2 metals and 1 alloy pair, 5-point EOS, 30 relaxation steps, 1 hot frame per (cell, T),
# a 0.4 ps ramp on 2 cells and 50 NVE steps: sized to stay within a quarter of the demo grid's training time.
LIGHT = EmtSuite(name="emt-light", max_elements=2, alloys=1, eos_points=5, relax_steps=30, hot_frames=1,
                 md_cells=2, ramp_steps=80, timestep_fs=5.0, nve_steps=50)
PRESETS: dict[str, EmtSuite | GroupsSuite] = {"emt": EmtSuite(), "emt-light": LIGHT, "groups": GroupsSuite()}


def light_suite() -> EmtSuite:
    """The cheap emt preset: `scaling demo` runs it on its largest cell; a spec may name it (`suite: emt-light`)."""
    return LIGHT


def load_suite(name_or_path: str | os.PathLike, **overrides: Any) -> EmtSuite | GroupsSuite:
    """A preset by name (emt, emt-light, groups) or a YAML file `{suite: emt|emt-light|groups, FIELD: VALUE, ...}`,
    with `overrides` (None values ignored) applied last; unknown fields and families are refused by name."""
    text = str(name_or_path)
    if text in PRESETS:
        base, settings, source = PRESETS[text], {}, "--suite"
    elif text.endswith((".yaml", ".yml")):
        base, settings, source = _read_yaml(Path(text))
    else:
        raise InputError(f"--suite: unknown suite {text!r} (known: {', '.join(PRESETS)}, or a SUITE.yaml file)")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return configure(base, settings, source)


def configure(base, settings: dict[str, Any], source: str):
    known = {f.name for f in fields(base)}
    values = {}
    for key, value in settings.items():
        if key not in known:
            why = f"unknown for suite {base.name} (known: {', '.join(sorted(known))})"
            raise InputError(f"{source}: field `{key}` {why}", field=key, why=why)
        default = getattr(base, key)
        if isinstance(default, tuple) or (key == "elements" and value is not None):
            value = tuple(value.split(",")) if isinstance(value, str) else tuple(value)
        values[key] = value
    if "families" in values:
        bad = [f for f in values["families"] if f not in FAMILIES]
        if bad:
            why = f"unknown (known: {', '.join(FAMILIES)})"
            raise InputError(f"{source}: field `families` = {bad[0]!r} {why}", field="families", value=bad[0], why=why)
    try:
        return replace(base, **values)
    except TypeError as error:
        raise InputError(f"{source}: {error}") from None


def _read_yaml(path: Path):
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: suite file not found") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a suite file must be a YAML mapping")
    data = dict(data)
    base_name = data.pop("suite", "emt")
    if base_name not in PRESETS:
        raise InputError(f"{path}: field `suite` = {base_name!r} unknown (known: {', '.join(PRESETS)})")
    if isinstance(data.get("data"), str) and not os.path.isabs(data["data"]):
        data["data"] = str((path.parent / data["data"]).resolve())
    return PRESETS[base_name], data, str(path)


def suite_settings(suite) -> dict[str, Any]:
    """The suite as JSON-ready settings (recorded in every evaluation.json)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(suite).items()}
