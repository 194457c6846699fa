"""Energy, forces and stress of the potentials: autograd vs finite differences, symmetries, supercells, sizing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from ase.build import bulk
from models_helpers import CUTOFF, emt_structure
from scipy.spatial.transform import Rotation

from scaling.models.blocks import BesselBasis, Triplets
from scaling.models.graph import atoms_to_data
from scaling.models.potential import ModelConfig, Potential
from scaling.errors import InputError
from scaling.models.sizing import count_parameters, size_model

ARCHS = ("twobody", "threebody")


def make_model(arch: str, seed: int = 0, dtype=torch.float64) -> Potential:
    torch.manual_seed(seed)
    options = {"depth": 2} | ({"threebody_cutoff": 3.5} if arch == "threebody" else {})
    model = Potential(ModelConfig(arch=arch, width=16, elements=(13, 29), cutoff=CUTOFF, options=options)).to(dtype)
    model.reference_energies.copy_(torch.tensor([-0.3, 0.2]))
    model.energy_scale.fill_(0.7)
    return model


def predict(model, atoms, dtype=torch.float64):
    data = atoms_to_data(atoms, CUTOFF)
    data.pos = torch.as_tensor(atoms.positions, dtype=dtype)  # float64 positions: finite differences need them
    data.cell = torch.as_tensor(atoms.cell.array, dtype=dtype).view(1, 3, 3)
    data.cell_shift = data.cell_shift.to(dtype)
    return model(data, forces=True, stress=True)


def energy_of(model, atoms) -> float:
    return float(predict(model, atoms).energy.detach())


@pytest.mark.parametrize("arch", ARCHS)
def test_forces_are_minus_finite_difference_gradient(arch):
    model, atoms = make_model(arch), emt_structure(3)
    forces = predict(model, atoms).forces.detach().numpy()
    h = 1e-4
    for atom, axis in [(0, 0), (3, 1), (7, 2), (12, 0)]:
        shifted = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            shifted.append(energy_of(model, moved))
        assert forces[atom, axis] == pytest.approx(-(shifted[0] - shifted[1]) / (2 * h), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("arch", ARCHS)
def test_stress_is_strain_derivative_in_gpa(arch):
    model, atoms = make_model(arch), emt_structure(4)
    stress = predict(model, atoms).stress[0].detach().numpy()
    h = 1e-5
    for a, b in [(0, 0), (1, 1), (0, 1), (1, 2)]:
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h / 2
            strain[b, a] += sign * h / 2
            deformed = atoms.copy()
            deformed.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            energies.append(energy_of(model, deformed))
        expected = (energies[0] - energies[1]) / (2 * h) / atoms.get_volume() * 160.21766208
        assert stress[a, b] == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
def test_rotation_translation_permutation_invariance(arch):
    model, atoms = make_model(arch), emt_structure(5)
    reference = predict(model, atoms)
    rotation = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()

    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rotation.T
    prediction = predict(model, rotated)
    assert float(prediction.energy) == pytest.approx(float(reference.energy), rel=1e-10)
    np.testing.assert_allclose(prediction.forces.detach(), reference.forces.detach() @ rotation.T, atol=1e-9)
    np.testing.assert_allclose(prediction.stress[0].detach(), rotation @ reference.stress[0].detach().numpy() @ rotation.T,
                               atol=1e-9)

    translated = atoms.copy()
    translated.positions += np.array([0.7, -2.3, 5.1])
    prediction = predict(model, translated)
    assert float(prediction.energy) == pytest.approx(float(reference.energy), rel=1e-10)
    np.testing.assert_allclose(prediction.forces.detach(), reference.forces.detach(), atol=1e-9)

    order = np.random.default_rng(0).permutation(len(atoms))
    permuted = atoms[order]
    prediction = predict(model, permuted)
    assert float(prediction.energy) == pytest.approx(float(reference.energy), rel=1e-10)
    np.testing.assert_allclose(prediction.forces.detach(), reference.forces.detach()[order], atol=1e-9)


@pytest.mark.parametrize("arch", ARCHS)
def test_supercell_energy_per_atom_equals_primitive(arch):
    model = make_model(arch)
    primitive = bulk("Cu", "fcc", a=3.6)  # one atom: every neighbour is a periodic image of itself
    primitive.set_chemical_symbols(["Cu"])
    supercell = primitive.repeat((2, 3, 2))
    per_atom = energy_of(model, primitive)
    assert energy_of(model, supercell) / len(supercell) == pytest.approx(per_atom, rel=1e-10)
    stress = predict(model, supercell).stress[0].detach().numpy()
    np.testing.assert_allclose(stress, predict(model, primitive).stress[0].detach().numpy(), atol=1e-8)


def test_triplets_match_brute_force():
    atoms = emt_structure(6)
    data = atoms_to_data(atoms, CUTOFF)
    vectors = data.pos[data.edge_index[0]] - data.pos[data.edge_index[1]] + data.cell_shift @ data.cell[0]
    lengths = vectors.norm(dim=-1)
    triplets = Triplets(data.edge_index, lengths, 3.0, len(atoms))
    found = set(zip(triplets.ij.tolist(), triplets.ik.tolist()))
    expected = {
        (a, b)
        for a, b in itertools.permutations(range(lengths.numel()), 2)
        if data.edge_index[1, a] == data.edge_index[1, b] and lengths[a] < 3.0 and lengths[b] < 3.0
    }
    assert found == expected and len(expected) > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_every_module_is_used_and_every_parameter_learns(arch):
    """No dead parts: one radial basis for the filters, one shared triplet basis (not a copy per layer), and every
    parameter gets a gradient from an energy-and-forces loss."""
    model = make_model(arch, dtype=torch.float32)
    bases = [name for name, module in model.named_modules() if isinstance(module, BesselBasis)]
    assert bases == ["network.filters.basis"] + (["network.triplet_basis.radial"] if arch == "threebody" else [])
    prediction = model(atoms_to_data(emt_structure(3), CUTOFF), create_graph=True)
    (prediction.energy.sum() + prediction.forces.square().sum()).backward()
    silent = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert silent == []


def test_threebody_checkpoint_from_before_the_shared_triplet_basis_loads():
    """The old layout kept a copy of the (fixed) triplet Bessel frequencies in every layer: it still loads, strictly."""
    model = make_model("threebody")
    old = dict(model.state_dict())
    frequencies = old.pop("network.triplet_basis.radial.frequencies")
    old |= {f"network.threebody.{layer}.basis.frequencies": frequencies.clone() for layer in range(2)}
    loaded = make_model("threebody", seed=1)
    loaded.load_state_dict(old)
    atoms = emt_structure(4)
    assert energy_of(loaded, atoms) == energy_of(model, atoms)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("target", [20_000, 50_000, 1_000_000])
def test_sizing_hits_target_within_five_percent(arch, target):
    base = ModelConfig(arch=arch, width=1, elements=(13, 28, 29, 47, 79), options={"depth": 3})
    config, count = size_model(target, base)
    assert abs(count - target) <= 0.05 * target
    assert count == count_parameters(config) == Potential(config).n_params
    deeper, deep_count = size_model(target, base, fit_depth=True)
    assert abs(deep_count - target) <= 0.05 * target and deeper.depth in (2, 3, 4, 5, 6)


@pytest.mark.parametrize("arch", ARCHS)
def test_only_the_three_body_model_sees_an_angle(arch):
    """A bent trimer whose outer pair lies beyond the cutoff: the same pair distances, different angles."""
    from ase import Atoms

    model = make_model(arch)
    for block in model.network.threebody or []:
        torch.nn.init.normal_(block.out.weight, std=3.0)  # make the (init-scale) angle term visible
    energies = []
    for angle in (130.0, 160.0):  # outer distance 4.53 and 4.92 A, both beyond the 4.5 A cutoff
        rad = np.radians(angle)
        trimer = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [2.5 * np.cos(rad), 2.5 * np.sin(rad), 0]])
        energies.append(energy_of(model, trimer))
    if arch == "twobody":
        assert energies[0] == pytest.approx(energies[1], rel=1e-12)
    else:
        assert abs(energies[0] - energies[1]) > 1e-4


def test_unreachable_parameter_target_is_bad_input():
    base = ModelConfig(arch="twobody", width=1, elements=(13, 28, 29, 47, 79), options={"depth": 3})
    with pytest.raises(InputError, match=r"params=100: no width/depth reaches 100 parameters"):
        size_model(100, base)
    with pytest.raises(InputError, match=r"params=0"):
        size_model(0, base)
