"""Readers and writer: mlearn JSON (units and stress sign), extxyz key detection, ASE db, round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from scaling.cli import main
from scaling.data.io import read_structures, write_extxyz


def test_mlearn_mo_store_info_and_labels(reference_data, tmp_path, capsys):
    source = reference_data / "mlearn" / "Mo_training.json"
    store = tmp_path / "store"
    assert main(["-q", "data", "build", str(source), "--cutoff", "5.0", "--out", str(store)]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_structures"] == 194
    assert info["elements"] == ["Mo"]
    assert info["cutoff"] == 5.0
    assert info["has_forces"] and info["has_stress"]
    assert info["provenance_groups"][0]["count"] == 194

    entry = json.loads(source.read_text())[7]
    from scaling.data.store import GraphStore

    graph = GraphStore(store)[7]
    assert graph.energy.item() == pytest.approx(entry["outputs"]["energy"], rel=1e-7)
    assert graph.forces[3, 1].item() == pytest.approx(entry["outputs"]["forces"][3][1], abs=1e-6)
    xx, yy, zz, yz, xz, xy = entry["outputs"]["virial_stress"]  # kbar, VASP sign
    assert graph.stress[0, 0, 0].item() == pytest.approx(-0.1 * xx, rel=1e-6)
    assert graph.stress[0, 1, 2].item() == pytest.approx(-0.1 * yz, rel=1e-6)
    assert graph.stress[0, 0, 1].item() == pytest.approx(-0.1 * xy, rel=1e-6)


def test_mlearn_stress_sign_is_ase_convention(reference_data):
    """A compressed cell has negative stress in ASE's convention; EMT on a compressed Cu cell agrees in sign."""
    structures = read_structures(reference_data / "mlearn" / "Mo_training.json")
    uniaxial = [s for s in structures if any(f"mode {m}," in s.provenance["info"]["description"] for m in (1, 2, 3))]
    compressed = [s for s in uniaxial if "strain -0.0" in s.provenance["info"]["description"]]
    stretched = [s for s in uniaxial if "strain 0.0" in s.provenance["info"]["description"]]
    assert len(compressed) >= 5 and len(stretched) >= 5
    assert all(np.trace(s.stress) < -10 for s in compressed)  # GPa
    assert all(np.trace(s.stress) > 10 for s in stretched)
    copper = bulk("Cu", "fcc", a=3.5)  # EMT's equilibrium is about 3.59 A: this is compressed
    copper.calc = EMT()
    assert np.trace(copper.get_stress(voigt=False)) < 0


def test_extxyz_round_trip_keeps_labels_and_provenance(tmp_path):
    from scaling.data.emt import generate

    structures = generate(5, seed=4, workers=1)
    path = tmp_path / "pool.extxyz"
    write_extxyz(structures, path)
    back = read_structures(path)
    assert len(back) == 5
    for a, b in zip(structures, back):
        assert b.energy == pytest.approx(a.energy, abs=1e-7)
        np.testing.assert_allclose(b.forces, a.forces, atol=1e-7)
        np.testing.assert_array_equal(b.numbers, a.numbers)
        assert (a.stress is None) == (b.stress is None)
        if a.stress is not None:
            np.testing.assert_allclose(b.stress, a.stress, atol=1e-6)
        assert b.provenance["calculator"] == "EMT"
        assert b.provenance["info"]["temperature_K"] == a.provenance["info"]["temperature_K"]
        assert b.provenance["source"] == str(path)


def _labelled_copper(energy_key="REF_energy", forces_key="REF_forces"):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=2)
    atoms.info[energy_key] = -3.25
    atoms.arrays[forces_key] = np.arange(len(atoms) * 3, dtype=float).reshape(-1, 3) / 10
    atoms.info["functional"] = "PBE"
    atoms.info["config_type"] = "rattled"
    return atoms


def test_ref_keys_detected_and_custom_keys(tmp_path):
    path = tmp_path / "ref.extxyz"
    write(path, [_labelled_copper()], format="extxyz")
    (structure,) = read_structures(path)
    assert structure.energy == -3.25
    assert structure.forces[1, 2] == pytest.approx(0.5)
    assert structure.stress is None
    assert structure.provenance["settings"] == {"functional": "PBE"}
    assert structure.provenance["info"]["config_type"] == "rattled"

    custom = tmp_path / "custom.extxyz"
    write(custom, [_labelled_copper("my_e", "my_f")], format="extxyz")
    (structure,) = read_structures(custom, energy_key="my_e", forces_key="my_f")
    assert structure.energy == -3.25


def test_virial_converted_to_stress(tmp_path):
    atoms = _labelled_copper()
    virial = np.diag([1.0, 2.0, 3.0])  # eV
    atoms.info["virial"] = virial
    path = tmp_path / "virial.extxyz"
    write(path, [atoms], format="extxyz")
    (structure,) = read_structures(path)
    np.testing.assert_allclose(structure.stress, -virial / atoms.get_volume() / units.GPa, rtol=1e-8)


def test_ase_db_reader(tmp_path):
    import ase.db

    atoms = bulk("Al", "fcc", a=4.0) * (2, 2, 2)
    atoms.rattle(0.02, seed=3)
    atoms.calc = EMT()
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
    path = tmp_path / "set.db"
    with ase.db.connect(str(path)) as db:
        db.write(atoms, functional="EMT-test")
    (structure,) = read_structures(path)
    assert structure.energy == pytest.approx(energy)
    np.testing.assert_allclose(structure.forces, forces)
    np.testing.assert_allclose(structure.stress[0, 0], stress[0] / units.GPa)
    assert structure.provenance["settings"]["functional"] == "EMT-test"


def test_info_reports_provenance_groups_of_a_source(tmp_path, capsys):
    frames = []
    for k, functional in enumerate(["PBE", "PBE", "PBE+U"]):
        atoms = _labelled_copper()
        atoms.info["functional"] = functional
        atoms.info["calc_hubbard_u"] = 0.0 if functional == "PBE" else 6.2
        atoms.positions += 0.01 * k
        frames.append(atoms)
    path = tmp_path / "mixed.extxyz"
    write(path, frames, format="extxyz")
    assert main(["data", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_structures"] == 3 and info["elements"] == ["Cu"] and info["cutoff"] is None
    assert info["has_forces"] is True and info["has_stress"] is False
    groups = {g["settings"]["functional"]: g for g in info["provenance_groups"]}
    assert groups["PBE"]["count"] == 2 and groups["PBE+U"]["count"] == 1
    assert groups["PBE+U"]["settings"]["hubbard_u"] == 6.2
    assert main(["data", "info", str(path)]) == 0
    assert "functional=PBE+U" in capsys.readouterr().out
