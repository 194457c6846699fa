"""The architecture registry: plugins by module:builder path and by entry point, the arch axis with options, and
MACE through mace-torch (skipped, with the reason, where the optional extra is not installed)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from models_helpers import cli_built_store, emt_run_data

from scaling.cli import main
from scaling.data.emt import generate
from scaling.errors import InputError
from scaling.models import registry
from scaling.models.potential import ModelConfig, Potential

HAS_MACE = importlib.util.find_spec("mace") is not None
needs_mace = pytest.mark.skipif(not HAS_MACE, reason='mace-torch not installed (pip install -e ".[mace]")')

PLUGIN = '''
"""A tiny energy model outside the project: element embeddings mixed by a smooth radial filter."""
import torch
from torch import nn


class PairEnergy(nn.Module):
    def __init__(self, width, elements, cutoff, activation):
        super().__init__()
        species = torch.full((119,), -1, dtype=torch.long)
        species[list(elements)] = torch.arange(len(elements))
        self.register_buffer("species", species, persistent=False)
        self.cutoff = cutoff
        self.embed = nn.Embedding(len(elements), width)
        self.radial = nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, width))
        self.act = {"tanh": torch.tanh, "silu": nn.functional.silu}[activation]
        self.out = nn.Linear(width, 1)

    def forward(self, z, vectors, edge_index, **graph):
        r = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
        smooth = (1 - r / self.cutoff).clamp(min=0) ** 3
        h = self.embed(self.species[z])
        messages = h[edge_index[0]] * self.radial(r) * smooth
        pooled = torch.zeros_like(h).index_add(0, edge_index[1], messages)
        return self.out(self.act(pooled)).squeeze(-1)


def build(width, elements, cutoff, activation="tanh"):
    return PairEnergy(width, elements, cutoff, activation)
'''


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return cli_built_store(tmp_path_factory.mktemp("emt"))


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """tinyplug.models:build in a temp folder on the path, and registered as entry point `tiny` by a dist-info."""
    root = tmp_path / "plugins"
    (root / "tinyplug").mkdir(parents=True)
    (root / "tinyplug" / "__init__.py").write_text("")
    (root / "tinyplug" / "models.py").write_text(PLUGIN)
    info = root / "tinyplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[scaling.architectures]\ntiny = tinyplug.models:build\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", f"{root}:{__import__('os').environ.get('PYTHONPATH', '')}")
    yield root
    for name in [n for n in sys.modules if n.startswith("tinyplug")]:
        del sys.modules[name]


def forces_match_finite_differences(calculator, atoms, tolerance: float) -> None:
    atoms = atoms.copy()
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
        assert abs(forces[atom, axis] + (energies[0] - energies[1]) / (2 * h)) < tolerance


def stress_matches_strain_derivative(calculator, atoms) -> None:
    atoms = atoms.copy()
    atoms.calc = calculator
    stress = atoms.get_stress(voigt=False)
    h = 1e-5
    for a, b in [(0, 0), (1, 2)]:
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h / 2
            strain[b, a] += sign * h / 2
            deformed = atoms.copy()
            deformed.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            deformed.calc = calculator
            energies.append(deformed.get_potential_energy())
        expected = (energies[0] - energies[1]) / (2 * h) / atoms.get_volume()
        assert stress[a, b] == pytest.approx(expected, rel=1e-5, abs=1e-8)


# -- the registry --------------------------------------------------------------------------------------------------
def test_unknown_and_unimportable_architectures_are_one_line_input_errors(plugin):
    with pytest.raises(InputError, match=r"arch 'fourbody': not a built-in \(twobody, threebody, mace\)"):
        registry.resolve("fourbody")
    with pytest.raises(InputError, match=r"cannot import module 'nowhere.models'"):
        registry.resolve("nowhere.models:build")
    with pytest.raises(InputError, match=r"module 'tinyplug.models' has no attribute 'make'"):
        registry.resolve("tinyplug.models:make")
    with pytest.raises(InputError, match=r"unexpected keyword argument 'colour'"):
        ModelConfig("tinyplug.models:build", 8, (13, 29), 4.5, {"colour": "red"})


def test_plugin_by_path_and_by_entry_point_build_the_same_model(plugin):
    by_path = ModelConfig("tinyplug.models:build", 8, (29, 13), 4.5, {"activation": "silu"})
    by_entry_point = ModelConfig("tiny", 8, (13, 29), 4.5, {"activation": "silu"})
    assert registry.resolve("tiny").source == "entry point tinyplug.models:build"
    assert "tiny" in registry.available()
    assert by_path.to_dict() == {"arch": "tinyplug.models:build", "width": 8, "elements": [13, 29], "cutoff": 4.5,
                                 "options": {"activation": "silu"}}
    torch.manual_seed(0)
    a = Potential(by_path)
    torch.manual_seed(0)
    b = Potential(by_entry_point)
    assert a.n_params == b.n_params == 2 * 8 + (1 * 8 + 8) + (8 * 8 + 8) + (8 + 1)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_builtin_options_are_recorded_complete_and_legacy_configs_still_load():
    config = ModelConfig("threebody", 16, (13, 29), 4.5, {"depth": 2})
    assert config.options == {"depth": 2, "n_angular": 4, "n_radial": 8, "n_radial_threebody": 4,
                              "radial_hidden": 32, "threebody_cutoff": 3.5}
    legacy = {"arch": "twobody", "width": 16, "depth": 2, "elements": (13, 29), "cutoff": 4.5, "n_radial": 8,
              "radial_hidden": 32, "threebody_cutoff": 3.5, "n_angular": 4, "n_radial_threebody": 4}
    upgraded = ModelConfig.from_dict(legacy)
    assert upgraded.options == {"depth": 2, "n_radial": 8, "radial_hidden": 32}
    model = Potential(upgraded)
    old_keys = {key.removeprefix("network."): value for key, value in model.state_dict().items()}
    Potential(upgraded).load_state_dict(old_keys)  # a pre-registry checkpoint's weights load too


def test_mace_without_mace_torch_is_a_one_line_install_hint(store, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["mace"] = None  # as if mace-torch were not installed
        from scaling.cli import main
        sys.exit(main(["train", "--data", {str(store)!r}, "--params", "20000", "--arch", "mace",
                       "--out", {str(tmp_path / "run")!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert 'pip install -e ".[mace]"' in done.stderr
    assert not (tmp_path / "run").exists()


# -- a plugin through the CLI and a sweep --------------------------------------------------------------------------
@pytest.mark.slow
def test_plugin_trains_sizes_checkpoints_and_loads_as_calculator(store, plugin, tmp_path):
    from scaling.calculator import ScalingCalculator

    out = tmp_path / "run"
    code = main(["-q", "train", "--data", str(store), "--train-size", "12", "--params", "3000", "--arch",
                 "tinyplug.models:build", "--arch-option", "activation=silu", "--max-epochs", "2", "--device", "cpu",
                 "--out", str(out)])
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "done" and abs(result["n_params"] - 3000) <= 150
    assert result["arch"] == "tinyplug.models:build" and result["arch_options"] == {"activation": "silu"}
    saved = torch.load(out / "best.pt", weights_only=True)  # plain data: loads without unpickling code
    assert saved["model_config"]["options"] == {"activation": "silu"}
    atoms = generate(1, seed=9, elements=("Al", "Cu"), workers=1)[0].to_atoms()
    calculator = ScalingCalculator(out / "best.pt", dtype="float64")
    assert isinstance(calculator.model.network, sys.modules["tinyplug.models"].PairEnergy)
    forces_match_finite_differences(calculator, atoms, 1e-6)


@pytest.mark.slow
def test_sweep_with_a_plugin_and_options_on_the_arch_axis(store, plugin, tmp_path, capsys):
    import pandas as pd

    spec = {"name": "archs", "dataset": {"path": str(store.parent / "emt.extxyz"), "cutoff": 4.5},
            "axes": {"train_size": [12], "params": [2000],
                     "arch": ["tinyplug.models:build", {"name": "tinyplug.models:build", "activation": "silu"}]},
            "training": {"max_epochs": 1, "batch_size": 4}, "executor": "inline"}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["-q", "sweep", "run", str(path), "--out", str(tmp_path / "runs")]) == 0
    assert main(["sweep", "status", str(tmp_path / "runs"), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"]["done"] == 2
    assert [c["arch_options"] for c in status["cells"]] == [{}, {"activation": "silu"}]
    assert main(["-q", "sweep", "collect", str(tmp_path / "runs"), "-o", str(tmp_path / "table.csv")]) == 0
    table = pd.read_csv(tmp_path / "table.csv")
    assert list(table["arch"]) == ["tinyplug.models:build"] * 2
    assert list(table["arch_options"]) == ["{}", '{"activation": "silu"}']
    assert table["cell_id"].str.startswith("tinyplug.models_build-N2000-D12-s0-").all()
    assert table["cell_id"].nunique() == 2 and (table["status"] == "done").all()


def test_spec_naming_an_unimportable_plugin_is_refused_before_anything_is_written(tmp_path, capsys):
    spec = {"name": "bad", "dataset": {"emt": {"n": 10}}, "axes": {"train_size": [5], "params": [1000],
            "arch": ["twobody", "nowhere.models:build"]}, "executor": "inline"}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", "run", str(path), "--out", str(tmp_path / "runs")]) == 2
    error = capsys.readouterr().err.strip()
    assert "`axes.arch.1`" in error and "cannot import module 'nowhere.models'" in error and "\n" not in error
    assert not (tmp_path / "runs").exists()


def test_a_spec_naming_built_ins_validates_without_importing_torch():
    """Built-in names and their options are checked against the builders' signatures, which import no torch; a bad
    option and a missing optional package are still refused, with the field named."""
    script = textwrap.dedent("""
        import sys
        from scaling.errors import InputError
        from scaling.sweep.spec import parse_spec
        base = {"name": "t", "dataset": {"emt": {"n": 10}}, "axes": {"train_size": [5], "params": [1000]},
                "training": {"max_epochs": 2}}
        arch = ["twobody", "threebody", {"name": "threebody", "n_angular": 3}, {"name": "mace", "max_L": 0}]
        parse_spec({**base, "axes": {**base["axes"], "arch": arch}})
        print("torch imported:", "torch" in sys.modules)
        for bad in ({"name": "threebody", "colour": "red"}, "mace"):
            sys.modules["mace"] = None  # as if mace-torch were not installed
            try:
                parse_spec({**base, "axes": {**base["axes"], "arch": ["twobody", bad]}})
            except InputError as error:
                print(error)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "torch imported: False"
    assert lines[1].startswith("spec: field `axes.arch.1` = ") and "unexpected keyword argument 'colour'" in lines[1]
    assert lines[2] == 'spec: field `axes.arch.1` = "mace": mace-torch is not installed; install the extra: pip ' \
        'install -e ".[mace]"'


def test_arch_axis_options_enter_the_cell_hash_and_plain_names_keep_theirs():
    from scaling.sweep.spec import parse_spec

    base = {"name": "h", "dataset": {"emt": {"n": 10}}, "axes": {"train_size": [5], "params": [1000]}}
    plain = parse_spec({**base, "axes": {**base["axes"], "arch": ["threebody"]}}).cells()[0]
    same = parse_spec({**base, "axes": {**base["axes"], "arch": [{"name": "threebody"}]}}).cells()[0]
    varied = parse_spec({**base, "axes": {**base["axes"], "arch": [{"name": "threebody", "n_angular": 3}]}}).cells()[0]
    assert plain.cell_id == same.cell_id and "arch_options" not in plain.settings()
    assert varied.cell_id != plain.cell_id and varied.arch_options == {"n_angular": 3}
    with pytest.raises(InputError, match=r"`axes.arch.0`.*unexpected keyword argument 'max_L'"):
        parse_spec({**base, "axes": {**base["axes"], "arch": [{"name": "twobody", "max_L": 2}]}})


# -- MACE ----------------------------------------------------------------------------------------------------------
@needs_mace
@pytest.mark.slow
def test_mace_trains_to_size_and_its_calculator_is_consistent(store, tmp_path):
    from scaling.calculator import ScalingCalculator

    out = tmp_path / "mace"
    code = main(["-q", "train", "--data", str(store), "--train-size", "12", "--params", "20000", "--arch", "mace",
                 "--max-epochs", "2", "--batch-size", "6", "--device", "cpu", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "done" and abs(result["n_params"] - 20000) <= 0.05 * 20000
    assert result["arch_options"]["max_L"] == 1 and result["depth"] == 2  # num_interactions
    assert result["arch_options"]["avg_num_neighbors"] > 10  # from the training set
    atoms = generate(1, seed=9, elements=("Al", "Cu"), workers=1)[0].to_atoms()
    calculator = ScalingCalculator(out / "best.pt", dtype="float64")
    forces_match_finite_differences(calculator, atoms, 1e-6)
    assert atoms.pbc.all()  # a bulk cell, so the stress check below runs
    stress_matches_strain_derivative(calculator, atoms)


@needs_mace
@pytest.mark.slow
def test_interrupted_mace_run_resumes_bitwise(tmp_path):
    from scaling.train import TrainConfig, run_training
    from scaling.train.checkpoint import load

    class Interrupt(Exception):
        pass

    data = emt_run_data(n_train=8, n_val=4, n_test=4)
    config = TrainConfig(arch="mace", width=4, arch_options={"num_interactions": 1, "correlation": 2},
                         max_epochs=2, batch_size=2, checkpoint_every_steps=2, seed=5, warmup_steps=2, threads=1,
                         device="cpu")
    run_training(config, tmp_path / "straight", data=data)

    def interrupt(step: int) -> None:
        if step == 7:  # mid-epoch 2 (4 steps per epoch), one step after the step-6 checkpoint
            raise Interrupt

    with pytest.raises(Interrupt):
        run_training(config, tmp_path / "resumed", data=data, on_step=interrupt)
    assert load(tmp_path / "resumed" / "checkpoint.pt")["progress"]["step"] == 6
    run_training(config, tmp_path / "resumed", data=data)
    straight = load(tmp_path / "straight" / "checkpoint.pt")["model"]
    resumed = load(tmp_path / "resumed" / "checkpoint.pt")["model"]
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


MACE_TRAIN_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from models_helpers import emt_run_data
from scaling.train import TrainConfig, run_training
config = TrainConfig(arch="mace", width=4, arch_options={{"num_interactions": 1, "correlation": 2}}, max_epochs=3,
                     batch_size=2, checkpoint_every_steps=2, seed=5, warmup_steps=2, threads=1, device="cpu")
slow = float(sys.argv[2])
run_training(config, sys.argv[1], data=emt_run_data(n_train=8, n_val=4, n_test=4), on_step=lambda step: time.sleep(slow))
"""


@needs_mace
@pytest.mark.slow
def test_sigkilled_mace_training_process_resumes_bitwise(tmp_path):
    from scaling.train.checkpoint import load

    script = tmp_path / "train.py"
    script.write_text(MACE_TRAIN_SCRIPT.format(tests=str(Path(__file__).resolve().parent)))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run([sys.executable, "-W", "ignore", str(script), str(tmp_path / "straight"), "0"], check=True, env=env,
                   timeout=600)
    victim = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-W", "ignore", str(script), str(victim), "0.3"], env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # 4 steps per epoch: kill in epoch 2, after its first checkpoint (step 6)
        if (victim / "checkpoint.pt").exists() and load(victim / "checkpoint.pt")["progress"]["step"] >= 6:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (victim / "result.json").exists()
    subprocess.run([sys.executable, "-W", "ignore", str(script), str(victim), "0"], check=True, env=env, timeout=600)
    straight = load(tmp_path / "straight" / "checkpoint.pt")["model"]
    resumed = load(victim / "checkpoint.pt")["model"]
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


def test_importing_mace_leaves_safe_loading_on():
    script = textwrap.dedent("""
        import os, sys
        import scaling.models.mace  # mace-torch's __init__ sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
        sys.exit(0 if "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ else 3)
    """)
    if not HAS_MACE:
        pytest.skip('mace-torch not installed (pip install -e ".[mace]")')
    env = {k: v for k, v in __import__("os").environ.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}
    assert subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, timeout=300).returncode == 0


@needs_mace
def test_mace_network_is_rotation_invariant_and_its_forces_are_the_energy_gradient():
    from scipy.spatial.transform import Rotation

    from models_helpers import CUTOFF, emt_structure
    from scaling.models.graph import atoms_to_data

    torch.manual_seed(0)
    model = Potential(ModelConfig("mace", 8, (13, 29), CUTOFF, {"avg_num_neighbors": 30.0})).double()
    model.energy_scale.fill_(10.0)

    def predict(atoms):
        data = atoms_to_data(atoms, CUTOFF)
        data.pos = torch.as_tensor(atoms.positions)
        data.cell = torch.as_tensor(atoms.cell.array).view(1, 3, 3)
        data.cell_shift = data.cell_shift.double()
        return model(data)

    atoms = emt_structure(3)
    reference = predict(atoms)
    forces = reference.forces.detach().numpy()
    assert np.abs(forces).mean() > 1e-3  # a visible signal, not a zero model
    for atom, axis in [(0, 0), (3, 1), (12, 2)]:
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * 1e-4
            energies.append(float(predict(moved).energy))
        assert forces[atom, axis] == pytest.approx(-(energies[0] - energies[1]) / 2e-4, rel=1e-5, abs=1e-8)
    rotation = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rotation.T
    turned = predict(rotated)
    assert float(turned.energy) == pytest.approx(float(reference.energy), rel=1e-10)
    np.testing.assert_allclose(turned.forces.detach(), reference.forces.detach() @ rotation.T, atol=1e-9)
