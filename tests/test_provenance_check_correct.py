"""`scaling data check` and `scaling data correct` on a mixed Ni/NiO surface built here with ase and EMT."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from scaling.cli import main

SHIFT_PER_NI = 0.7  # eV per Ni atom, added to every O-containing cell (the "+U" surface)


def _cells(seed: int) -> list:
    """Pure Ni cells and Ni cells with some atoms replaced by O, rattled, with EMT energies (unshifted)."""
    rng = np.random.default_rng(seed)
    cells = []
    for k in range(16):
        atoms = bulk("Ni", "fcc", a=3.52, cubic=True).repeat((2, 2, 1))
        if k % 2:
            n_oxygen = 1 + k % 5
            atoms.numbers[rng.choice(len(atoms), n_oxygen, replace=False)] = 8
        atoms.rattle(0.05, seed=seed * 100 + k)
        atoms.calc = EMT()
        atoms.info["true_energy"] = atoms.get_potential_energy()
        cells.append(atoms)
    return cells


def _label(atoms, with_u: bool, hubbard_key: str = "hubbard_u"):
    """A copy of atoms with the energy of the chosen surface and the info keys a DFT workflow would write."""
    copy = atoms.copy()
    n_ni = int((copy.numbers == 28).sum())
    energy = atoms.info["true_energy"] + (SHIFT_PER_NI * n_ni if with_u else 0.0)
    copy.info = {"functional": "PBE+U" if with_u else "PBE", hubbard_key: "Ni:6.2" if with_u else "none"}
    copy.info["true_energy"] = atoms.info["true_energy"]
    copy.arrays["forces"] = atoms.get_forces()
    copy.info["energy"] = energy
    return copy


def _write(path, frames):
    write(path, frames, format="extxyz")
    return str(path)


@pytest.fixture
def mixed(tmp_path):
    cells = _cells(seed=1)
    oxides = [a for a in cells if (a.numbers == 8).any()]
    source = [_label(a, with_u=(a.numbers == 8).any()) for a in cells]
    paired = [_label(a, with_u=False) for a in oxides[:5]]
    return _write(tmp_path / "mixed.extxyz", source), _write(tmp_path / "paired.extxyz", paired), tmp_path


def test_check_flags_selective_u(mixed, capsys):
    source, _, _ = mixed
    assert main(["data", "check", source, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["consistent"] is False
    assert len(report["provenance_groups"]) == 2
    assert sorted(g["count"] for g in report["provenance_groups"]) == [8, 8]
    kinds = {f["kind"]: f for f in report["findings"]}
    assert "mixed_reference_surface" in kinds
    assert kinds["selective_u"]["element"] == "Ni"
    assert kinds["selective_u"]["n_with_u"] == 8 and kinds["selective_u"]["n_with_u_with_anion"] == 8
    assert main(["data", "check", source, "--strict"]) == 1


def test_correct_recovers_unshifted_energies(mixed, capsys):
    from ase.io import read

    source, paired, tmp_path = mixed
    out = tmp_path / "corrected.extxyz"
    assert main(["data", "correct", source, "--paired", paired, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shifts_eV_per_atom"]["Ni"] == pytest.approx(SHIFT_PER_NI, abs=1e-3)
    assert summary["pairs_mean_abs_dE_per_atom_after_eV"] < 1e-3 < summary["pairs_mean_abs_dE_per_atom_before_eV"]
    frames = read(out, ":")
    assert len(frames) == 16
    for atoms in frames:
        error = abs(atoms.get_potential_energy() - atoms.info["true_energy"]) / len(atoms)
        assert error < 1e-3
    oxide = next(a for a in frames if (a.numbers == 8).any())
    assert oxide.info["energy_correction_eV"] == pytest.approx(-SHIFT_PER_NI * (oxide.numbers == 28).sum(), abs=1e-2)
    assert main(["data", "check", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["consistent"] is True


def test_paired_file_holding_both_settings(tmp_path, capsys):
    """A paired file may hold both labels of each configuration; matching is by geometry, not by file or order."""
    cells = _cells(seed=2)
    oxides = [a for a in cells if (a.numbers == 8).any()]
    source = _write(tmp_path / "s.extxyz", [_label(a, with_u=(a.numbers == 8).any()) for a in cells])
    both = [_label(a, with_u=w) for a in oxides[:4] for w in (False, True)][::-1]
    paired = _write(tmp_path / "both.extxyz", both)
    out = tmp_path / "c.extxyz"
    assert main(["data", "correct", source, "--paired", paired, "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shifts_eV_per_atom"]["Ni"] == pytest.approx(SHIFT_PER_NI, abs=1e-3)


def test_no_provenance_keys_is_exit_2(tmp_path, capsys):
    atoms = _cells(seed=3)[0]
    atoms.info = {"energy": atoms.get_potential_energy()}
    atoms.arrays["forces"] = atoms.get_forces()
    atoms.calc = None
    path = _write(tmp_path / "bare.extxyz", [atoms])
    assert main(["data", "check", path]) == 2
    err = capsys.readouterr().err.strip()
    assert "no provenance keys" in err and "bare.extxyz" in err and len(err.splitlines()) == 1


def test_paired_without_overlap_is_exit_2(mixed, capsys):
    source, _, tmp_path = mixed
    other = [_label(a, with_u=False) for a in _cells(seed=9) if (a.numbers == 8).any()]
    paired = _write(tmp_path / "other.extxyz", other)
    out = tmp_path / "never.extxyz"
    assert main(["data", "correct", source, "--paired", paired, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no structure matches" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_element_absent_from_pairs_is_exit_2(tmp_path, capsys):
    """Fe carries a U in the source but no pair contains Fe: no shift can be fitted for it."""
    cells = _cells(seed=4)
    source_frames = [_label(a, with_u=(a.numbers == 8).any()) for a in cells]
    iron_oxide = source_frames[1].copy()
    iron_oxide.numbers[iron_oxide.numbers == 28] = 26
    iron_oxide.info["hubbard_u"] = "Fe:5.3"
    iron_oxide.arrays["forces"] = source_frames[1].arrays["forces"]
    source = _write(tmp_path / "s.extxyz", source_frames + [iron_oxide])
    oxides = [a for a in cells if (a.numbers == 8).any()]
    paired = _write(tmp_path / "p.extxyz", [_label(a, with_u=False) for a in oxides[:3]])
    out = tmp_path / "never.extxyz"
    assert main(["data", "correct", source, "--paired", paired, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Fe" in err and "absent from the pairs" in err and len(err.splitlines()) == 1
    assert not out.exists()
