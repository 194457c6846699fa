"""scaling evaluate: the emt suite against EMT itself, its reference properties against independent computations,
the groups suite on real mlearn data, bad input, the spec's evaluation section, and the loss-metric correlation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from scaling.cli import main

SMALL_SUITE = """suite: emt
elements: [Cu, Ni]
alloys: 1
ramp_steps: 60
nve_steps: 40
md_cells: 2
hot_frames: 1
"""


def run_cli(*args: str) -> int:
    return main(["-q", *args])


def test_emt_evaluated_against_itself_has_zero_errors_and_survives_the_ramp(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SMALL_SUITE)
    out = tmp_path / "emt.json"
    assert run_cli("evaluate", "--calculator", "ase.calculators.emt:EMT", "--suite", str(suite), "--json",
                   str(out)) == 0
    document = json.loads(out.read_text())
    metrics = document["metrics"]
    errors = [name for name in metrics if "error" in name or name in ("hot_force_mae_ev_a", "nve_drift_mev_atom_ps")]
    assert len(errors) == 10
    for name in errors:
        assert metrics[name] is not None and 0 <= metrics[name] < 1e-6, (name, metrics[name])
    assert metrics["md_failure_temperature_k"] == 2500.0
    assert abs(metrics["force_softening"] - 1) < 1e-9
    # per-structure details: both elements, an L1_2 and an L1_0 alloy, both slabs, every ramp cell unbroken
    structures = {row["structure"] for row in document["details"]["eos"]}
    assert structures == {"Ni", "Cu", "Ni3Cu-L12", "NiCu-L10"}
    assert {row["structure"] for row in document["details"]["surface"]} == {"Ni(111)", "Ni(100)", "Cu(111)", "Cu(100)"}
    assert all(not row["broke"] for row in document["details"]["md_ramp"])


def test_reference_properties_match_ase_eos_and_energy_finite_differences():
    """The suite's EMT Cu lattice constant and bulk modulus equal ase.eos on a 1-atom cell; its stress-strain
    elastic constants equal second derivatives of the energy, and B = (C11 + 2 C12) / 3."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.eos import EquationOfState
    from ase.units import GPa

    from scaling.evaluate.statics import elastic_constants, equation_of_state
    from scaling.evaluate.structures import bulk_cases

    case = bulk_cases(("Cu",), alloys=0)[0]
    ours = equation_of_state(case, EMT(), points=7, spread=0.04)
    volumes, energies = [], []
    for a in np.linspace(3.45, 3.75, 9):
        atoms = bulk("Cu", "fcc", a=a)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    v0, _, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    assert ours["lattice_constant"] == pytest.approx((4 * v0) ** (1 / 3), rel=2e-4)
    assert ours["bulk_modulus"] == pytest.approx(b / GPa, rel=1e-2)

    a0 = ours["lattice_constant"]
    constants = elastic_constants(case, a0, EMT(), strain=0.005)

    def energy(strain: np.ndarray) -> float:
        atoms = bulk("Cu", "fcc", a=a0, cubic=True)
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    h, volume = 0.004, a0**3
    e0 = energy(np.zeros((3, 3)))

    def second_derivative(direction: np.ndarray) -> float:
        return (energy(h * direction) - 2 * e0 + energy(-h * direction)) / h**2 / volume / GPa

    xx = np.diag([1.0, 0, 0])
    xx_yy = np.diag([1.0, 1.0, 0])
    shear = np.zeros((3, 3))
    shear[1, 2] = shear[2, 1] = 0.5  # engineering shear strain gamma_yz = h
    c11 = second_derivative(xx)
    c12 = (second_derivative(xx_yy) - 2 * c11) / 2
    c44 = second_derivative(shear)
    assert constants["c11"] == pytest.approx(c11, rel=1e-2)
    assert constants["c12"] == pytest.approx(c12, rel=1e-2)
    assert constants["c44"] == pytest.approx(c44, rel=1e-2)
    assert (constants["c11"] + 2 * constants["c12"]) / 3 == pytest.approx(ours["bulk_modulus"], rel=1e-2)


def test_hot_structures_are_seeded_and_never_at_pool_temperatures():
    from ase.calculators.emt import EMT

    from scaling.data.emt import TEMPERATURES_K
    from scaling.evaluate.dynamics import hot_structures
    from scaling.evaluate.structures import bulk_cases
    from scaling.evaluate.suite import EmtSuite

    temperatures = EmtSuite().hot_temperatures_k
    assert not set(temperatures) & set(TEMPERATURES_K)
    assert min(temperatures) >= 2 * np.mean(TEMPERATURES_K) - 1e-9
    cells = [bulk_cases(("Cu",), 0)[0].atoms(repeat=2)]
    first = hot_structures(cells, temperatures, 1, 5, seed=3, reference=EMT())
    again = hot_structures(cells, temperatures, 1, 5, seed=3, reference=EMT())
    other = hot_structures(cells, temperatures, 1, 5, seed=4, reference=EMT())
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(first, again))
    assert not np.allclose(first[0].positions, other[0].positions)


ZERO_CALCULATOR = '''
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

class Zero(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}
'''


def test_groups_suite_reports_per_group_errors_of_mlearn_data(tmp_path, reference_data, monkeypatch):
    """A calculator that predicts zero: each group's errors are then the mean |E|/atom and |F| of its labels."""
    from scaling.data.io import read_structures

    (tmp_path / "zero_calculator.py").write_text(ZERO_CALCULATOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = reference_data / "mlearn" / "Mo_test.json"
    out = tmp_path / "groups.json"
    assert run_cli("evaluate", "--calculator", "zero_calculator:Zero", "--suite", "groups", "--data", str(data),
                   "--json", str(out)) == 0
    metrics = json.loads(out.read_text())["metrics"]
    structures = read_structures(data)
    for group, column in (("AIMD-NVT", "aimd_nvt"), ("Elastic", "elastic"), ("Vacancy", "vacancy"),
                          ("Surface", "surface")):
        members = [s for s in structures if s.provenance["info"]["group"] == group]
        energy = np.mean([abs(s.energy) / s.n_atoms for s in members])
        force = np.mean(np.concatenate([np.abs(s.forces).ravel() for s in members]))
        assert metrics[f"group_{column}_energy_mae"] == pytest.approx(energy)
        assert metrics[f"group_{column}_force_mae"] == pytest.approx(force)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--calculator", "ase.calculators.emt.EMT"], "expected module:callable"),
        (["--calculator", "no_such_module_xyz:EMT"], "cannot import module"),
        (["--calculator", "ase.calculators.emt:Nothing"], "has no attribute"),
        (["MISSING_DIR"], "no such checkpoint"),
        (["--calculator", "ase.calculators.emt:EMT", "--suite", "nope"], "unknown suite"),
        (["--calculator", "ase.calculators.emt:EMT", "--elements", "Xx"], "EMT cannot label"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", *args, "--json", "out.json"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "out.json").exists()


def test_suite_file_field_errors_name_the_field(tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: emt\nramp_stepz: 3\n")
    assert main(["evaluate", "--calculator", "ase.calculators.emt:EMT", "--suite", str(suite)]) == 2
    assert "field `ramp_stepz` unknown" in capsys.readouterr().err
    suite.write_text("suite: emt\nfamilies: [eos, magic]\n")
    assert main(["evaluate", "--calculator", "ase.calculators.emt:EMT", "--suite", str(suite)]) == 2
    assert "'magic' unknown" in capsys.readouterr().err


def test_untrusted_checkpoint_is_refused_before_unpickling(tmp_path, capsys):
    """A file that needs arbitrary unpickling (not weights-only) is bad input, and its payload never runs."""
    import argparse

    import torch

    path = tmp_path / "best.pt"
    torch.save({"model_config": argparse.Namespace(elements=(29,)), "model": {}}, path)
    assert main(["evaluate", str(path)]) == 2
    assert "not a scaling checkpoint" in capsys.readouterr().err


def test_spec_evaluation_section_validates_and_leaves_cells_unchanged(tmp_path):
    from scaling.errors import InputError
    from scaling.sweep.spec import parse_spec

    base = {"name": "x", "dataset": {"emt": {"n": 20}}, "axes": {"train_size": [4], "params": [500]}}
    plain = parse_spec(base)
    evaluated = parse_spec({**base, "evaluation": {"suite": "emt-light", "families": ["hot_forces", "md_ramp"],
                                                   "settings": {"ramp_steps": 30}}})
    assert plain.evaluation is None
    assert [c.cell_id for c in plain.cells()] == [c.cell_id for c in evaluated.cells()]
    suite = evaluated.evaluation.suite_object()
    assert suite.ramp_steps == 30 and suite.families == ("hot_forces", "md_ramp")
    assert suite.metric_names() == ["hot_force_mae_ev_a", "force_softening", "force_softening_error",
                                    "md_failure_temperature_k"]
    with pytest.raises(InputError, match=r"evaluation"):
        parse_spec({**base, "evaluation": {"families": ["magic"]}})
    with pytest.raises(InputError, match=r"ramp_stepz"):
        parse_spec({**base, "evaluation": {"settings": {"ramp_stepz": 3}}})


def synthetic_table(n_cells: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    loss = np.sort(rng.uniform(0.01, 1.0, n_cells))
    return pd.DataFrame({
        "status": "done", "arch": "twobody", "n_params": np.tile([500, 2000], n_cells // 2),
        "train_size": np.repeat(np.arange(n_cells // 2) * 10 + 10, 2), "val_loss": loss,
        "hot_force_mae_ev_a": loss * 2 + 0.01,                     # ranks exactly as the loss
        "md_failure_temperature_k": 2500 - 1000 * loss,           # higher is better: agreement +1
        "c11_error_pct": rng.permutation(n_cells).astype(float),  # unrelated
        "eval_seconds": 1.0,
    })


def test_rank_correlation_with_bootstrap_interval():
    from scaling.analysis.correlation import correlate_table, spearman_bootstrap

    table = synthetic_table()
    document = correlate_table(table, n_bootstrap=200)
    rows = {row["metric"]: row for row in document["correlations"]}
    assert rows["hot_force_mae_ev_a"]["rho"] == pytest.approx(1.0)
    assert rows["hot_force_mae_ev_a"]["ci95"] == pytest.approx([1.0, 1.0])
    assert rows["md_failure_temperature_k"]["rho"] == pytest.approx(-1.0)
    assert rows["md_failure_temperature_k"]["rank_agreement"] == pytest.approx(1.0)
    low, high = rows["c11_error_pct"]["ci95"]
    assert low < rows["c11_error_pct"]["rho"] < high and high - low > 0.5
    # an undefined metric (NaN) of an evaluated cell ranks that cell last instead of dropping it
    table.loc[len(table) - 1, "hot_force_mae_ev_a"] = math.nan
    rows = {row["metric"]: row for row in correlate_table(table, n_bootstrap=0)["correlations"]}
    assert rows["hot_force_mae_ev_a"]["rho"] == pytest.approx(1.0) and rows["hot_force_mae_ev_a"]["n_cells"] == 12
    assert spearman_bootstrap([1, 2], [1, 2])["rho"] is not None  # too few cells: NaN, not an error
    assert math.isnan(spearman_bootstrap([1, 2], [1, 2])["rho"])


def test_correlate_cli_writes_json_and_figures(tmp_path, capsys):
    table = tmp_path / "results.csv"
    synthetic_table().to_csv(table, index=False)
    assert main(["evaluate", "--correlate", str(table), "--bootstrap", "50", "--out", str(tmp_path / "fig")]) == 0
    document = json.loads((tmp_path / "fig" / "correlation.json").read_text())
    assert {row["metric"] for row in document["correlations"]} == {"hot_force_mae_ev_a", "md_failure_temperature_k",
                                                                   "c11_error_pct"}
    for name in ("metric_hot_force_mae_ev_a", "metric_c11_error_pct", "correlation"):
        assert (tmp_path / "fig" / f"{name}.pdf").stat().st_size > 1000
        assert (tmp_path / "fig" / f"{name}.png").is_file()
    assert "hot_force_mae_ev_a" in capsys.readouterr().out


def test_scaling_fit_fits_a_use_case_metric_like_a_loss(tmp_path):
    table = tmp_path / "results.csv"
    synthetic_table().to_csv(table, index=False)
    out = tmp_path / "fit.json"
    assert run_cli("fit", str(table), "--x", "train_size", "--y", "hot_force_mae_ev_a", "--group", "n_params",
                   "--law", "power", "--json", str(out)) == 0
    fits = json.loads(out.read_text())["fits"]
    assert [fit["group"]["n_params"] for fit in fits] == [500, 2000]
    assert all(fit["n_points"] == 6 and math.isfinite(fit["exponents"][0]) for fit in fits)


@pytest.mark.slow
def test_a_trained_run_folder_evaluates_deterministically(tmp_path):
    """MODEL as a run folder: a potential trained a few steps, evaluated twice, gives identical documents."""
    from scaling.data.emt import emt_dataset
    from scaling.data.store import build_store
    from scaling.train import TrainConfig, run_training

    source = emt_dataset(20, seed=0, elements=("Cu",), cache=tmp_path / "cache")
    build_store(source, tmp_path / "store", cutoff=4.0)
    run_training(TrainConfig(store=str(tmp_path / "store"), params=400, arch="twobody", seed=0, max_steps=3,
                             max_epochs=1, batch_size=4, device="cpu"), tmp_path / "run")
    suite = tmp_path / "suite.yaml"
    suite.write_text("suite: emt-light\nfamilies: [eos, hot_forces, md_ramp, nve]\nramp_steps: 30\nnve_steps: 20\n")
    documents = []
    for name in ("a.json", "b.json"):
        assert run_cli("evaluate", str(tmp_path / "run"), "--suite", str(suite), "--json", str(tmp_path / name)) == 0
        document = json.loads((tmp_path / name).read_text())
        document.pop("seconds")
        documents.append(document)
    assert documents[0] == documents[1]
    assert documents[0]["elements"] == ["Cu"] and documents[0]["model"].endswith("best.pt")
    assert documents[0]["metrics"]["hot_force_mae_ev_a"] > 0.05  # three steps: far from EMT
