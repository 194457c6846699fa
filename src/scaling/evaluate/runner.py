"""Run a suite on a model: each property with the model and with the reference, then the errors.

`run_suite(model, suite)` returns the evaluation document: {"suite", "model", "settings", "elements",
"metrics": {name: value}, "details": {family: [per-structure records]}, "seconds"}. Metrics are NaN (null in JSON)
where a property is undefined for the model (e.g. an EOS without a minimum).
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np

from scaling.analysis.record import finite
from scaling.evaluate import defects, dynamics, statics
from scaling.evaluate.models import Model
from scaling.evaluate.structures import bulk_cases, fcc_lattice, suite_elements
from scaling.evaluate.suite import EmtSuite, GroupsSuite, suite_settings

log = logging.getLogger(__name__)


def run_suite(model: Model, suite: EmtSuite | GroupsSuite, progress: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    if isinstance(suite, GroupsSuite):
        from scaling.evaluate.groups import group_errors

        elements = model.elements
        metrics, details = group_errors(model, suite)
    else:
        elements = suite_elements(suite, model.elements)
        with _suite_bar(progress, suite, elements) as advance:
            metrics, details = _emt(model, suite, elements, advance)
    return {
        "suite": suite.name,
        "model": model.name,
        "settings": suite_settings(suite),
        "elements": list(elements) if elements else None,
        "metrics": {k: finite(v) for k, v in metrics.items()},
        "details": details,
        "seconds": time.perf_counter() - started,
    }


def _emt(model: Model, suite: EmtSuite, elements: tuple[str, ...], advance: Callable[[str], None]):
    from ase.calculators.emt import EMT

    calculators = {"model": model.calculator(), "reference": EMT()}
    cases = bulk_cases(elements, suite.alloys)
    metrics: dict[str, float] = {}
    details: dict[str, list[dict[str, Any]]] = {}
    families = set(suite.families)

    eos = {}
    if families & {"eos", "elastic", "vacancy", "surface"}:
        for case in cases:
            eos[case.name] = {who: statics.equation_of_state(case, calc, suite.eos_points, suite.eos_range)
                              for who, calc in calculators.items()}
            advance(f"eos {case.name}")
    if "eos" in families:
        rows = [_row(name, "lattice_constant_a", values["model"]["lattice_constant"],
                     values["reference"]["lattice_constant"], percent=True) for name, values in eos.items()]
        rows += [_row(name, "bulk_modulus_gpa", values["model"]["bulk_modulus"],
                      values["reference"]["bulk_modulus"], percent=True) for name, values in eos.items()]
        details["eos"] = rows
        metrics["lattice_constant_error_pct"] = _mean_error(rows, "lattice_constant_a")
        metrics["lattice_constant_signed_pct"] = _mean_signed(rows, "lattice_constant_a")
        metrics["bulk_modulus_error_pct"] = _mean_error(rows, "bulk_modulus_gpa")
        metrics["bulk_modulus_signed_pct"] = _mean_signed(rows, "bulk_modulus_gpa")

    element_cases = [case for case in cases if case.is_element]
    if "elastic" in families:
        rows = []
        for case in element_cases:
            values = {who: statics.elastic_constants(case, eos[case.name][who]["lattice_constant"], calc, suite.strain)
                      for who, calc in calculators.items()}
            rows += [_row(case.name, f"{c}_gpa", values["model"][c], values["reference"][c], percent=True)
                     for c in ("c11", "c12", "c44")]
            advance(f"elastic {case.name}")
        details["elastic"] = rows
        for c in ("c11", "c12", "c44"):
            metrics[f"{c}_error_pct"] = _mean_error(rows, f"{c}_gpa")

    if "vacancy" in families:
        rows = []
        for case in element_cases:
            values = {who: defects.vacancy_formation(case, eos[case.name][who]["lattice_constant"], calc,
                                                     suite.relax_fmax, suite.relax_steps)
                      for who, calc in calculators.items()}
            rows.append(_row(case.name, "vacancy_formation_ev", values["model"], values["reference"], percent=False))
            advance(f"vacancy {case.name}")
        details["vacancy"] = rows
        metrics["vacancy_formation_error_ev"] = _mean_error(rows, "vacancy_formation_ev")
        metrics["vacancy_formation_signed_ev"] = _mean_signed(rows, "vacancy_formation_ev")

    if "surface" in families:
        rows = []
        for case in element_cases:
            for facet in ("111", "100"):
                values = {}
                for who, calc in calculators.items():
                    lattice = eos[case.name][who]["lattice_constant"]
                    values[who] = defects.surface_energy(
                        case.symbols[0], facet, lattice, _bulk_energy_per_atom(case, lattice, calc), calc,
                        suite.slab_layers, suite.vacuum, suite.relax_fmax, suite.relax_steps)
                rows.append(_row(f"{case.name}({facet})", "surface_energy_j_m2", values["model"], values["reference"],
                                 percent=True))
            advance(f"surface {case.name}")
        details["surface"] = rows
        metrics["surface_energy_error_pct"] = _mean_error(rows, "surface_energy_j_m2")
        metrics["surface_energy_signed_pct"] = _mean_signed(rows, "surface_energy_j_m2")

    md_cases = [cases[i % len(cases)] for i in range(suite.md_cells)]
    md_cells = [case.atoms(repeat=2) for case in md_cases]
    if "hot_forces" in families:
        snapshots = dynamics.hot_structures(md_cells, suite.hot_temperatures_k, suite.hot_frames,
                                            suite.hot_steps_between, suite.seed, calculators["reference"])
        errors = dynamics.force_errors(snapshots, calculators["model"])
        details["hot_forces"] = [{"structure": f"{md_cases[s.info['cell_index']].name}@{s.info['temperature_K']:.0f}K"
                                  f"#{s.info['frame']}", "n_atoms": len(s), "force_mae_ev_a": finite(mae)}
                                 for s, mae in zip(snapshots, errors["per_structure"])]
        metrics["hot_force_mae_ev_a"] = errors["mae"]
        metrics["force_softening"] = errors["slope"]
        metrics["force_softening_error"] = abs(1 - errors["slope"])
        advance("hot forces")

    if "md_ramp" in families:
        rows = []
        for index, (case, cell) in enumerate(zip(md_cases, md_cells)):
            nearest = min(fcc_lattice(s) for s in set(case.symbols)) / math.sqrt(2)
            result = dynamics.heating_ramp(
                cell, calculators["model"], calculators["reference"], seed=suite.seed, index=index,
                start_k=suite.ramp_start_k, top_k=suite.ramp_top_k, steps=suite.ramp_steps,
                timestep_fs=suite.timestep_fs, friction_per_fs=suite.friction_per_fs, check_every=suite.check_every,
                min_distance=suite.min_distance_fraction * nearest, energy_tolerance_ev=suite.energy_tolerance_ev)
            rows.append({"structure": f"{case.name}#{index}", "temperature_k": result.temperature_k,
                         "broke": result.broke, "reason": result.reason, "step": result.step})
            advance(f"md ramp {case.name}")
        details["md_ramp"] = rows
        metrics["md_failure_temperature_k"] = float(np.median([row["temperature_k"] for row in rows]))

    if "nve" in families:
        drift = {who: dynamics.nve_drift(md_cells[0], calc, seed=suite.seed, temperature_k=suite.nve_temperature_k,
                                         steps=suite.nve_steps, timestep_fs=suite.nve_timestep_fs)
                 for who, calc in calculators.items()}
        details["nve"] = [{"structure": md_cases[0].name, "model": drift["model"], "reference": drift["reference"]}]
        metrics["nve_drift_mev_atom_ps"] = abs(drift["model"] - drift["reference"])
        metrics["nve_drift_model_mev_atom_ps"] = drift["model"]
        advance("nve")
    return metrics, details


def _bulk_energy_per_atom(case, lattice: float, calculator) -> float:
    if not np.isfinite(lattice):
        return math.nan
    atoms = case.atoms(lattice)
    atoms.calc = calculator
    return float(atoms.get_potential_energy()) / len(atoms)


def _row(structure: str, quantity: str, model: float, reference: float, percent: bool) -> dict[str, Any]:
    signed = (model - reference) / abs(reference) * 100 if percent else model - reference
    return {"structure": structure, "quantity": quantity, "model": finite(model),
            "reference": finite(reference), "error": finite(abs(signed)),
            "signed": finite(signed), "unit": "%" if percent else "eV"}


def _mean_error(rows, quantity: str) -> float:
    """Mean |error| over the structures; NaN when any is undefined (a failed EOS is not a small error)."""
    values = [row["error"] for row in rows if row["quantity"] == quantity]
    return math.nan if not values or any(v is None for v in values) else float(np.mean(values))


def _mean_signed(rows, quantity: str) -> float:
    values = [row["signed"] for row in rows if row["quantity"] == quantity]
    return math.nan if not values or any(v is None for v in values) else float(np.mean(values))


def task_count(suite: EmtSuite, elements: tuple[str, ...]) -> int:
    """The progress bar's length: one task per EOS case, per element and family, per ramp cell, hot forces, NVE."""
    families = set(suite.families)
    n_cases = len(bulk_cases(elements, suite.alloys))
    return (n_cases * bool(families & {"eos", "elastic", "vacancy", "surface"})
            + len(elements) * len(families & {"elastic", "vacancy", "surface"})
            + ("hot_forces" in families) + suite.md_cells * ("md_ramp" in families) + ("nve" in families))


@contextmanager
def _suite_bar(enabled: bool, suite: EmtSuite, elements: tuple[str, ...]):
    """A rich progress bar over the suite's tasks, or nothing (quiet, or not a terminal)."""
    if not enabled:
        yield lambda label: log.debug("evaluate: %s done", label)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("evaluate {task.fields[label]:<22}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("evaluate", total=task_count(suite, elements), label=suite.name)
        yield lambda label: bar.update(task, advance=1, label=label)
