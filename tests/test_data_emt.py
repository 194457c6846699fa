"""The embedded EMT dataset: ASE's EMT labels, determinism, diversity at small n, caching, element validation."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.emt import EMT

from scaling.cli import main
from scaling.data.emt import emt_dataset, generate
from scaling.data.io import read_structures, write_extxyz
from scaling.errors import InputError


@pytest.fixture(scope="module")
def pool60():
    return generate(60, seed=0, workers=2)


def test_labels_are_ases_emt(pool60):
    for structure in pool60[::7]:
        atoms = Atoms(numbers=structure.numbers, positions=structure.positions, cell=structure.cell, pbc=structure.pbc)
        atoms.calc = EMT()
        assert structure.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(structure.forces, atoms.get_forces(), atol=1e-9)
        if atoms.pbc.all():
            np.testing.assert_allclose(structure.stress, atoms.get_stress(voigt=False) / units.GPa, atol=1e-8)
        else:
            assert structure.stress is None


def test_sixty_structures_are_diverse(pool60):
    sizes = {s.n_atoms for s in pool60}
    element_sets = {s.elements for s in pool60}
    kinds = {s.provenance["info"]["kind"] for s in pool60}
    temperatures = {s.provenance["info"]["temperature_K"] for s in pool60}
    assert len(sizes) >= 5 and min(sizes) >= 7 and max(sizes) <= 64
    assert len(element_sets) >= 5 and {len(e) for e in element_sets} >= {1, 2, 3}
    assert {"bulk", "vacancy"} <= kinds and kinds & {"slab100", "slab111"}
    assert len(temperatures) >= 3
    assert any(s.stress is not None for s in pool60) and any(s.stress is None for s in pool60)
    assert all(s.provenance["calculator"] == "EMT" for s in pool60)


def test_same_seed_same_bytes_whatever_the_worker_count(tmp_path, pool60):
    write_extxyz(pool60[:20], tmp_path / "a.extxyz")
    write_extxyz(generate(20, seed=0, workers=1), tmp_path / "b.extxyz")
    assert (tmp_path / "a.extxyz").read_bytes() == (tmp_path / "b.extxyz").read_bytes()
    write_extxyz(generate(20, seed=1, workers=1), tmp_path / "c.extxyz")
    assert (tmp_path / "a.extxyz").read_bytes() != (tmp_path / "c.extxyz").read_bytes()


def test_cache_makes_the_second_request_instant(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    first = emt_dataset(10, seed=5, workers=1)
    stamp = first.stat().st_mtime_ns
    out = tmp_path / "out.extxyz"
    assert main(["-q", "data", "emt", "--n", "10", "--seed", "5", "--out", str(out)]) == 0
    assert first.stat().st_mtime_ns == stamp
    assert out.read_bytes() == first.read_bytes()
    assert len(read_structures(out)) == 10


def test_light_elements_allowed_unknown_refused(tmp_path, capsys):
    structures = generate(5, seed=2, elements=("Ni", "O"), workers=1)
    assert {"Ni"} <= set().union(*(s.elements for s in structures)) <= {"Ni", "O"}
    with pytest.raises(InputError, match="'Fe'"):
        generate(5, seed=0, elements=("Al", "Fe"))
    out = tmp_path / "bad.extxyz"
    assert main(["data", "emt", "--n", "5", "--elements", "Cu,Zr", "--out", str(out)]) == 2
    assert "Zr" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(InputError, match="no metal"):
        generate(5, seed=0, elements=("O",))


def test_pool_workers_stay_quiet_under_the_sweep_driver(capfd):
    """The sweep driver turns SIGTERM into KeyboardInterrupt while it builds the data; forked EMT workers must not
    inherit that, or the pool's own shutdown (SIGTERM to each worker) prints one traceback per worker."""
    from scaling.sweep.local import install_sigterm_as_interrupt

    with install_sigterm_as_interrupt():
        structures = generate(12, seed=3, workers=2)
    assert len(structures) == 12
    assert "Traceback" not in capfd.readouterr().err
