"""Malformed inputs: one-line error naming file, frame and value, exit code 2, nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from scaling.cli import main


def _frame(energy=-1.0, forces=True, spacing=3.6):
    atoms = bulk("Cu", "fcc", a=spacing, cubic=True)
    atoms.info["REF_energy"] = energy
    if forces:
        atoms.arrays["REF_forces"] = np.zeros((len(atoms), 3))
    return atoms


def _write_good_then(path, bad):
    write(path, [_frame(), _frame(), bad], format="extxyz")


def _truncated(path):
    write(path, [_frame(), _frame()], format="extxyz")
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-2]) + "\n")


def _nan_forces(path):
    bad = _frame()
    bad.arrays["REF_forces"][1, 2] = np.nan
    _write_good_then(path, bad)


def _close_atoms(path):
    bad = _frame()
    bad.positions[1] = bad.positions[0] + [0.2, 0.1, 0.0]
    _write_good_then(path, bad)


CASES = {
    "truncated": (_truncated, "cannot read"),
    "empty": (lambda p: p.write_text(""), "empty file"),
    "no-energy": (lambda p: _write_good_then(p, _no_energy()), "frame 2: no energy"),
    "no-forces": (lambda p: _write_good_then(p, _frame(forces=False)), "frame 2: no forces"),
    "nan-energy": (lambda p: _write_good_then(p, _frame(energy=float("nan"))), "frame 2: energy is nan"),
    "inf-energy": (lambda p: _write_good_then(p, _frame(energy=float("inf"))), "frame 2: energy is inf"),
    "nan-forces": (_nan_forces, "frame 2: forces contain nan"),
    "close-atoms": (_close_atoms, "frame 2: atoms 0 and 1 are 0.224 A apart"),
    "garbage": (lambda p: p.write_bytes(b"\x00\x01garbage\xff\n" * 5), "cannot read"),
}


def _no_energy():
    atoms = _frame()
    del atoms.info["REF_energy"]
    return atoms


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("command", ["build", "info"])
def test_bad_extxyz_refused(name, command, tmp_path, capsys):
    make, message = CASES[name]
    source = tmp_path / "in" / "bad.extxyz"
    source.parent.mkdir()
    make(source)
    out = tmp_path / "out" / "store"
    argv = ["data", command, str(source)] + (["--out", str(out)] if command == "build" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(source) in err and message in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_mlearn_json_refused(tmp_path, capsys):
    source = tmp_path / "broken.json"
    entry = {"structure": {"lattice": {"matrix": np.eye(3).tolist()}, "sites": []}, "outputs": {"energy": 1.0}}
    source.write_text(json.dumps([entry]))
    assert main(["data", "build", str(source), "--out", str(tmp_path / "s")]) == 2
    assert "frame 0" in capsys.readouterr().err
    source.write_text('[{"structure": ')
    assert main(["data", "build", str(source), "--out", str(tmp_path / "s")]) == 2
    assert "cannot read as JSON" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_missing_file_and_existing_store(tmp_path, capsys):
    assert main(["data", "build", str(tmp_path / "nope.extxyz"), "--out", str(tmp_path / "s")]) == 2
    assert "no such file" in capsys.readouterr().err
    good = tmp_path / "good.extxyz"
    write(good, [_frame()], format="extxyz")
    assert main(["-q", "data", "build", str(good), "--out", str(tmp_path / "s")]) == 0
    assert main(["data", "build", str(good), "--out", str(tmp_path / "s")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["data", "build", str(good), "--cutoff", "-1", "--out", str(tmp_path / "t")]) == 2
    assert not (tmp_path / "t").exists()
