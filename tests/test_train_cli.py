"""`scaling train` on a real graph store, and the trained potential through ScalingCalculator (FD, relax, MD)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from models_helpers import cli_built_store
from scaling.cli import main
from scaling.data.emt import generate


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return cli_built_store(tmp_path_factory.mktemp("emt"))


@pytest.fixture(scope="module")
def structures():
    return [s.to_atoms() for s in generate(3, seed=9, elements=("Al", "Cu"), workers=1)]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["twobody", "threebody"])
def test_train_hits_params_and_calculator_forces_match_energy_gradient(store, structures, tmp_path, arch):
    from scaling.calculator import ScalingCalculator

    out = tmp_path / arch
    code = main(["-q", "train", "--data", str(store), "--train-size", "12", "--params", "20000", "--arch", arch,
                 "--seed", "1", "--max-epochs", "2", "--max-steps", "4", "--device", "cpu", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "done" and result["train_size"] == 12
    assert abs(result["n_params"] - 20000) <= 0.05 * 20000

    atoms = structures[0].copy()
    calculator = ScalingCalculator(out / "best.pt", dtype="float64")  # float64: finite differences resolve it
    atoms.calc = calculator
    forces = atoms.get_forces()
    h = 1e-4
    for atom, axis in [(0, 0), (1, 2), (len(atoms) - 1, 1)]:
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.calc = calculator
            moved.positions[atom, axis] += sign * h
            energies.append(moved.get_potential_energy())
        assert forces[atom, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), rel=1e-6, abs=1e-8)
    if atoms.pbc.all():
        assert atoms.get_stress().shape == (6,)


@pytest.mark.slow
def test_calculator_relaxes_and_runs_md(store, structures, tmp_path):
    from scaling.calculator import ScalingCalculator

    out = tmp_path / "run"
    assert main(["-q", "train", "--data", str(store), "--params", "5000", "--max-steps", "6", "--device", "cpu",
                 "--out", str(out)]) == 0
    atoms = structures[1].copy()
    atoms.calc = ScalingCalculator(out / "best.pt")
    start_fmax = np.abs(atoms.get_forces()).max()
    start_energy = atoms.get_potential_energy()
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=15)
    assert atoms.get_potential_energy() < start_energy and np.abs(atoms.get_forces()).max() < start_fmax
    VelocityVerlet(atoms, timestep=1.0, logfile=None).run(5)
    assert np.isfinite(atoms.get_potential_energy())


def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "missing"), "--params", "1000", "--out", str(out)]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--params", "1000", "--set", "nonsense=1", "--out", str(out)]) == 2
    assert not out.exists()
