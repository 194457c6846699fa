"""Off-equilibrium use: forces on hot structures, an MD heating ramp until the simulation breaks, NVE drift.

Randomness comes from numpy SeedSequences with a spawn key per purpose (HOT, RAMP, NVE), a stream the EMT pool
(SeedSequence([seed, task])) never draws from; hot structures are sampled at temperatures the pool never uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HOT, RAMP, NVE = 0x4807, 0x4A3F, 0x4E5E  # spawn keys: one random stream per purpose


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _thermalize(atoms, temperature: float, rng: np.random.Generator) -> None:
    from ase.md import velocitydistribution

    thermalize = getattr(velocitydistribution, "thermalize_momenta",
                         velocitydistribution.MaxwellBoltzmannDistribution)
    thermalize(atoms, temperature_K=temperature, rng=rng)
    velocitydistribution.Stationary(atoms)


def hot_structures(cells: list, temperatures: tuple[float, ...], frames: int, steps_between: int, seed: int,
                   reference, timestep_fs: float = 2.0) -> list:
    """Snapshots (ase.Atoms with reference forces in .info["forces"]) of Langevin MD with the reference at each
    temperature, started from each cell; one seeded stream per (cell, temperature)."""
    from ase import units
    from ase.md.langevin import Langevin

    snapshots = []
    for c, cell in enumerate(cells):
        for t, temperature in enumerate(temperatures):
            atoms = cell.copy()
            atoms.calc = reference
            rng = _rng(seed, HOT, c, t)
            _thermalize(atoms, temperature, rng)
            dynamics = Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature,
                                friction=0.02 / units.fs, fixcm=False, rng=rng)
            for frame in range(frames):
                dynamics.run(steps_between)
                snapshot = atoms.copy()
                snapshot.info.update(forces=atoms.get_forces().copy(), temperature_K=temperature, cell_index=c,
                                     frame=frame)
                snapshots.append(snapshot)
    return snapshots


def force_errors(snapshots: list, calculator) -> dict:
    """MAE of force components (eV/A), the slope through the origin of predicted vs reference forces, and the MAE
    of each snapshot (`per_structure`)."""
    predicted, reference = [], []
    for snapshot in snapshots:
        atoms = snapshot.copy()
        atoms.calc = calculator
        predicted.append(atoms.get_forces().ravel())
        reference.append(snapshot.info["forces"].ravel())
    p, r = np.concatenate(predicted), np.concatenate(reference)
    per_structure = [float(np.mean(np.abs(a - b))) for a, b in zip(predicted, reference)]
    if not np.all(np.isfinite(p)):
        return {"mae": math.nan, "slope": math.nan, "per_structure": per_structure}
    return {"mae": float(np.mean(np.abs(p - r))), "slope": float(p @ r / (r @ r)), "per_structure": per_structure}


@dataclass(frozen=True)
class RampResult:
    temperature_k: float          # where it broke, or the ramp's top
    broke: bool
    reason: str | None
    step: int


def heating_ramp(cell, calculator, reference, *, seed: int, index: int, start_k: float, top_k: float, steps: int,
                 timestep_fs: float, friction_per_fs: float, check_every: int, min_distance: float,
                 energy_tolerance_ev: float) -> RampResult:
    """Langevin MD driven by `calculator` while the thermostat's target rises linearly from start_k to top_k.

    The run breaks at the first step where (checked every step) energy or forces are not finite or a pair is
    closer than `min_distance` (A), or (checked every `check_every` steps) the energy per atom differs from the
    reference's on the same configuration by more than `energy_tolerance_ev`. The result is the target temperature
    at that step, or top_k when it never breaks."""
    from ase import units
    from ase.md.langevin import Langevin

    atoms = cell.copy()
    atoms.calc = calculator
    rng = _rng(seed, RAMP, index)
    _thermalize(atoms, start_k, rng)
    dynamics = Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=start_k,
                        friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    n = len(atoms)
    for step in range(steps):
        target = start_k + (top_k - start_k) * step / max(steps - 1, 1)
        dynamics.set_temperature(temperature_K=target)
        try:
            dynamics.run(1)
            energy = float(atoms.get_potential_energy())
            forces = atoms.get_forces()
        except (ValueError, FloatingPointError, RuntimeError) as error:
            return RampResult(target, True, f"calculator error: {type(error).__name__}", step)
        if not (np.isfinite(energy) and np.all(np.isfinite(forces))):
            return RampResult(target, True, "non-finite energy or forces", step)
        distances = atoms.get_all_distances(mic=True)[np.triu_indices(n, 1)]
        if distances.min() < min_distance:
            return RampResult(target, True, f"pair at {distances.min():.2f} A < {min_distance:.2f} A", step)
        if (step + 1) % check_every == 0:
            copy = atoms.copy()
            copy.calc = reference
            difference = abs(energy - copy.get_potential_energy()) / n
            if difference > energy_tolerance_ev:
                return RampResult(target, True, f"energy {difference:.2f} eV/atom from the reference", step)
    return RampResult(top_k, False, None, steps)


def nve_drift(cell, calculator, *, seed: int, temperature_k: float, steps: int, timestep_fs: float) -> float:
    """Slope (meV/atom/ps) of a straight line through the total energy per atom of velocity-Verlet NVE MD."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms = cell.copy()
    atoms.calc = calculator
    _thermalize(atoms, temperature_k, _rng(seed, NVE))
    dynamics = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    energies = []
    try:
        for _ in range(steps + 1):
            energies.append(float(atoms.get_total_energy()) / len(atoms))
            dynamics.run(1)
    except (ValueError, FloatingPointError, RuntimeError):
        return math.nan
    if not np.all(np.isfinite(energies)):
        return math.nan
    times_ps = np.arange(len(energies)) * timestep_fs / 1000
    return float(np.polyfit(times_ps, energies, 1)[0] * 1000)
