"""The embedded default dataset: ASE EMT labels on configurations that cover the surface, not just minima.

Each task is one short Langevin trajectory of a random fcc alloy (1-3 elements) in a bulk supercell (cubic or
primitive repeats, 8-64 atoms, randomly strained up to 5%, sometimes with vacancies) or a (100)/(111) slab with
vacuum, at a temperature from 300 to 1800 K; it yields FRAMES_PER_TASK snapshots labelled with energy, forces and
(bulk only) stress. A task is a function of (seed, task index) only, so the pool of n structures is a prefix of any
larger pool with the same seed, the output does not depend on the number of worker processes, and 60 structures
already hold 12 independent compositions, sizes and kinds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import signal
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from scaling.data.structures import Structure
from scaling.errors import InputError
from scaling.system import available_cores

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
METALS = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt")
LIGHT_ELEMENTS = ("H", "C", "N", "O")
EMT_ELEMENTS = METALS + LIGHT_ELEMENTS
DEFAULT_ELEMENTS = METALS
TEMPERATURES_K = (300, 600, 900, 1200, 1500, 1800)
FRAMES_PER_TASK = 5
EQUILIBRATION_STEPS = 20
STEPS_BETWEEN_FRAMES = 8
MAX_STRAIN = 0.05
MAX_LIGHT_FRACTION = 0.25
KINDS = ("bulk", "bulk", "vacancy", "slab100", "slab111")

ProgressCallback = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class EMTSpec:
    """Everything the pool depends on; its hash names the cached file."""

    n: int
    seed: int
    elements: tuple[str, ...]
    version: int = GENERATOR_VERSION

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def check_elements(elements: Sequence[str]) -> tuple[str, ...]:
    """Validated, de-duplicated elements in a canonical order; names the first one EMT cannot label."""
    from ase.data import atomic_numbers

    chosen = []
    for element in elements:
        element = element.strip()
        if element not in EMT_ELEMENTS:
            why = f"EMT cannot label element {element!r} (it knows {', '.join(EMT_ELEMENTS)})"
            raise InputError(f"--elements: {why}", field="elements", value=list(elements), why=why)
        if element not in chosen:
            chosen.append(element)
    if not any(e in METALS for e in chosen):
        why = f"{','.join(chosen) or 'none'} has no metal; need one of {', '.join(METALS)}"
        raise InputError(f"--elements: {why}", field="elements", value=list(elements), why=why)
    return tuple(sorted(chosen, key=atomic_numbers.__getitem__))


def cache_dir() -> Path:
    """$SCALING_CACHE, else ~/.cache/scaling."""
    return Path(os.environ.get("SCALING_CACHE") or Path.home() / ".cache" / "scaling")


def emt_dataset(
    n: int,
    seed: int = 0,
    elements: Sequence[str] = DEFAULT_ELEMENTS,
    workers: int | None = None,
    cache: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """The cached extxyz file of `generate(n, seed, elements)`; built once, instant afterwards."""
    from scaling.data.io import write_extxyz

    spec = EMTSpec(int(n), int(seed), check_elements(elements))
    path = Path(cache or cache_dir()) / "emt" / f"emt-n{spec.n}-seed{spec.seed}-{spec.key()}.extxyz"
    if path.is_file():
        log.info("EMT pool from cache: %s", path)
        return path
    structures = generate(spec.n, spec.seed, spec.elements, workers=workers, progress=progress)
    write_extxyz(structures, path)
    return path


def generate(
    n: int,
    seed: int = 0,
    elements: Sequence[str] = DEFAULT_ELEMENTS,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> list[Structure]:
    """n EMT-labelled structures, a deterministic function of (n, seed, elements), built in parallel."""
    if n < 1:
        raise InputError(f"--n: need at least 1 structure, got {n}")
    elements = check_elements(elements)
    n_tasks = -(-n // FRAMES_PER_TASK)
    workers = min(workers or available_cores(), n_tasks)
    task = partial(_run_task, seed=int(seed), elements=elements)
    frames: list[Structure] = []
    if workers <= 1:
        results = map(task, range(n_tasks))
        frames = _collect(results, n_tasks, progress)
    else:
        with _context().Pool(workers, initializer=_quiet_worker) as pool:
            frames = _collect(pool.imap(task, range(n_tasks), chunksize=1), n_tasks, progress)
    frames = frames[:n]
    for index, structure in enumerate(frames):
        structure.provenance["frame"] = index
    return frames


def _collect(results, n_tasks: int, progress: ProgressCallback | None) -> list[Structure]:
    frames: list[Structure] = []
    for done, task_frames in enumerate(results, start=1):
        frames.extend(task_frames)
        if progress is not None:
            progress(done, n_tasks)
    return frames


def _quiet_worker() -> None:
    """Pool workers leave Ctrl-C to the parent (which terminates the pool) and die silently on SIGTERM: a forked
    worker would otherwise inherit the sweep driver's SIGTERM-to-KeyboardInterrupt handler and print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _run_task(task: int, seed: int, elements: tuple[str, ...]) -> list[Structure]:
    """One trajectory: build a configuration, thermalise with Langevin MD, label FRAMES_PER_TASK snapshots."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md import velocitydistribution
    from ase.md.langevin import Langevin

    # thermalize_momenta is ASE >= 3.29's name for MaxwellBoltzmannDistribution (deprecated there)
    thermalize = getattr(velocitydistribution, "thermalize_momenta", velocitydistribution.MaxwellBoltzmannDistribution)

    rng = np.random.default_rng(np.random.SeedSequence([seed, task]))
    kind = KINDS[rng.integers(len(KINDS))]
    atoms, info = _configuration(kind, elements, rng)
    temperature = float(TEMPERATURES_K[rng.integers(len(TEMPERATURES_K))])
    timestep = (1.0 if any(s in LIGHT_ELEMENTS for s in atoms.get_chemical_symbols()) else 4.0) * units.fs
    atoms.calc = EMT()
    thermalize(atoms, temperature_K=temperature, rng=rng)
    dynamics = Langevin(
        atoms, timestep=timestep, temperature_K=temperature, friction=0.02 / units.fs, fixcm=False, rng=rng
    )
    dynamics.run(EQUILIBRATION_STEPS)
    frames = []
    for frame in range(FRAMES_PER_TASK):
        dynamics.run(STEPS_BETWEEN_FRAMES)
        periodic = bool(atoms.pbc.all())
        stress = atoms.get_stress(voigt=False) / units.GPa if periodic else None
        provenance = {
            "source": "scaling.data.emt",
            "frame": frame,
            "calculator": "EMT",
            "settings": {},
            "info": {
                **info,
                "temperature_K": temperature,
                "md_step": EQUILIBRATION_STEPS + (frame + 1) * STEPS_BETWEEN_FRAMES,
                "trajectory": task,
                "seed": seed,
            },
        }
        frames.append(
            Structure.from_atoms(
                atoms,
                energy=atoms.get_potential_energy(),
                forces=atoms.get_forces(),
                stress=stress,
                provenance=provenance,
                id=f"emt-s{seed}-t{task}-f{frame}",
            )
        )
    return frames


def _configuration(kind: str, elements: tuple[str, ...], rng: np.random.Generator):
    """A fresh configuration of `kind` and its description (info keys)."""
    from ase.build import bulk, fcc100, fcc111

    species, weights = _composition(elements, rng)
    lattice = _vegard_lattice_constant(species, weights)
    if kind in ("bulk", "vacancy"):
        if rng.random() < 0.5:
            repeats = _CUBIC_REPEATS[rng.integers(len(_CUBIC_REPEATS))]
            atoms = bulk("Cu", "fcc", a=lattice, cubic=True).repeat(repeats)
        else:
            repeats = _PRIMITIVE_REPEATS[rng.integers(len(_PRIMITIVE_REPEATS))]
            atoms = bulk("Cu", "fcc", a=lattice).repeat(repeats)
        strain = _random_strain(rng)
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
        info = {"kind": kind, "strain_max": float(np.abs(strain).max())}
    else:
        build = fcc100 if kind == "slab100" else fcc111
        size = (int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(3, 7)))
        vacuum = float(rng.uniform(5.0, 8.0))
        atoms = build("Cu", size=size, a=lattice, vacuum=vacuum)
        info = {"kind": kind, "vacuum_A": vacuum}
    atoms.set_chemical_symbols(_decorate(len(atoms), species, weights, rng))
    if kind == "vacancy":
        n_vacancies = int(rng.integers(1, 3))
        del atoms[rng.choice(len(atoms), size=n_vacancies, replace=False).tolist()]
        info["n_vacancies"] = n_vacancies
    info["composition"] = atoms.get_chemical_formula()
    return atoms, info


_CUBIC_REPEATS = [(a, b, c) for a in range(1, 5) for b in range(1, 5) for c in range(1, 5) if 2 <= a * b * c <= 16]
_PRIMITIVE_REPEATS = [(a, b, c) for a in range(2, 5) for b in range(2, 5) for c in range(2, 5)]


def _composition(elements: tuple[str, ...], rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """1-3 species, at least one metal first, with Dirichlet weights."""
    metals = [e for e in elements if e in METALS]
    first = metals[rng.integers(len(metals))]
    others = [e for e in elements if e != first]
    k = int(rng.integers(0, min(2, len(others)) + 1))
    species = [first] + [others[i] for i in sorted(rng.choice(len(others), size=k, replace=False))]
    return species, rng.dirichlet(np.ones(len(species)))


def _decorate(n_sites: int, species: list[str], weights: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Random site occupation; light elements capped at MAX_LIGHT_FRACTION (the excess becomes the first metal)."""
    symbols = [species[i] for i in rng.choice(len(species), size=n_sites, p=weights)]
    light = [i for i, s in enumerate(symbols) if s in LIGHT_ELEMENTS]
    for i in light[int(MAX_LIGHT_FRACTION * n_sites) :]:
        symbols[i] = species[0]
    return symbols


def _vegard_lattice_constant(species: list[str], weights: np.ndarray) -> float:
    """Composition-weighted fcc lattice constant of the metals (light elements sit on the metal lattice)."""
    from ase.data import atomic_numbers, reference_states

    pairs = [(reference_states[atomic_numbers[s]]["a"], w) for s, w in zip(species, weights) if s in METALS]
    total = sum(w for _, w in pairs)
    return float(sum(a * w for a, w in pairs) / total)


def _random_strain(rng: np.random.Generator) -> np.ndarray:
    """A symmetric strain with every component within MAX_STRAIN."""
    strain = rng.uniform(-MAX_STRAIN, MAX_STRAIN, size=(3, 3))
    return (strain + strain.T) / 2
