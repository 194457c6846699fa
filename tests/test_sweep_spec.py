"""The sweep spec: validation with one-line errors, stable cell hashes, and the frozen spec's refusal rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scaling.errors import InputError
from scaling.sweep import RunFolder, load_spec, parse_spec

REPO = Path(__file__).resolve().parents[1]

BASE = {
    "name": "t",
    "dataset": {"emt": {"n": 60, "seed": 0}, "cutoff": 4.0},
    "axes": {"train_size": [10, 20], "params": [300], "arch": ["twobody"], "seed": [0]},
    "training": {"max_epochs": 2},
}


def with_(path: str, value) -> dict:
    """BASE with one nested field replaced (path like "axes.train_size")."""
    spec = yaml.safe_load(yaml.safe_dump(BASE))
    *parents, last = path.split(".")
    node = spec
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return spec


@pytest.mark.parametrize("name", ["demo", "smoke", "slurm_gpu"])
def test_shipped_specs_validate(name):
    spec = load_spec(REPO / "experiments" / f"{name}.yaml")
    assert spec.name == name
    assert len(spec.cells()) >= 4


def test_slurm_gpu_spec_spans_the_published_ranges():
    spec = load_spec(REPO / "experiments" / "slurm_gpu.yaml")
    assert min(spec.axes.train_size) <= 100 and max(spec.axes.train_size) >= 100_000
    assert min(spec.axes.params) <= 10_000 and max(spec.axes.params) >= 10_000_000
    assert set(spec.axes.arch) == {"twobody", "threebody"} and len(spec.axes.seed) == 3
    assert spec.executor.kind == "slurm" and spec.executor.slurm.gpus >= 1


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("dataset.emt.n", -5, "`dataset.emt.n` = -5"),
        ("axes.train_size", [10, 10], "`axes.train_size`"),
        ("axes.arch", ["fourbody"], "`axes.arch.0` = \"fourbody\""),
        ("training.lr", -1, "`training.lr` = -1"),
        ("training.colour", "red", "`training.colour`: unknown"),
        ("training.seed", 3, "`training.seed`: set by the sweep"),
        ("executor.slurm.gpus", -1, "`executor.slurm.gpus` = -1"),
        ("executor.kind", "cloud", "`executor.kind`"),
        ("split.sampler", "best", "`split.sampler`"),
        ("evaluation", {"suite": "emt", "families": ["eos", "bogus"]}, "`evaluation.families` = 'bogus' unknown"),
        ("evaluation", {"suite": "emt", "settings": {"colour": 1}}, "`evaluation.colour` unknown for suite emt"),
    ],
)
def test_bad_fields_are_named(field, value, expected):
    with pytest.raises(InputError) as error:
        parse_spec(with_(field, value), "x.yaml")
    message = str(error.value)
    assert expected in message and message.startswith("x.yaml: ") and "\n" not in message


def test_dataset_needs_exactly_one_source():
    with pytest.raises(InputError, match="exactly one of `emt` or `path`"):
        parse_spec(with_("dataset.path", "pool.extxyz"))


def test_cli_bad_spec_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(with_("axes.params", [0])))
    run = subprocess.run([sys.executable, "-m", "scaling.cli", "sweep", "run", str(path), "--out",
                          str(tmp_path / "run")], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "`axes.params.0` = 0" in run.stderr and str(path) in run.stderr
    assert not (tmp_path / "run").exists()  # nothing written on bad input


def test_cell_ids_are_stable_and_distinct():
    spec = parse_spec(BASE)
    ids = [cell.cell_id for cell in spec.cells()]
    # Pinned: a cell's folder name must not change between versions, or resume would lose finished work.
    assert ids == [cell.cell_id for cell in parse_spec(BASE).cells()]
    assert ids[0].startswith("twobody-N300-D10-s0-") and len(set(ids)) == 2
    changed = parse_spec(with_("training.max_epochs", 3)).cells()
    assert {c.cell_id for c in changed}.isdisjoint(ids)  # a budget change is a different cell
    reordered = parse_spec(with_("axes.train_size", [20, 10])).cells()
    assert {c.cell_id for c in reordered} == set(ids)  # axis order does not matter


def test_relative_dataset_path_is_taken_from_the_spec_folder(tmp_path):
    spec = {**BASE, "dataset": {"path": "pool.extxyz"}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    assert load_spec(tmp_path / "s.yaml").dataset.path == str((tmp_path / "pool.extxyz").resolve())


def test_frozen_spec_accepts_new_cells_and_refuses_changed_ones(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.freeze(parse_spec(BASE))
    grown = folder.freeze(parse_spec(with_("axes.train_size", [10, 20, 40])))
    assert grown.axes.train_size == (10, 20, 40)
    shrunk = folder.freeze(parse_spec(with_("axes.train_size", [40])))  # no cell is dropped
    assert set(shrunk.axes.train_size) == {10, 20, 40}
    switched = folder.freeze(parse_spec(with_("executor", "slurm")))  # the executor is not part of a cell
    assert switched.executor.kind == "slurm"
    with pytest.raises(InputError, match=r"field `training.max_epochs` changed from 2 to 5"):
        folder.freeze(parse_spec(with_("training.max_epochs", 5)))
    with pytest.raises(InputError, match=r"field `dataset.cutoff` changed"):
        folder.freeze(parse_spec(with_("dataset.cutoff", 5.0)))
    assert folder.load_spec().training == {"max_epochs": 2}


def test_reading_a_frozen_spec_does_not_import_torch():
    """A run folder's frozen spec (what `sweep status`, `collect`, `cancel` and `prune` read) is validated without
    torch or plugins: those were checked when it was frozen, and status must answer at once. TrainConfig (the
    settings' schema) is importable without the training loop."""
    code = ("import sys, yaml; from scaling.sweep import parse_spec; from scaling.train.config import TrainConfig; "
            "parse_spec(yaml.safe_load(open(sys.argv[1])), sys.argv[1], frozen=True); "
            "print(sorted(m for m in ('torch', 'ase', 'matplotlib') if m in sys.modules))")
    spec = REPO / "experiments" / "usecase.yaml"
    run = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
