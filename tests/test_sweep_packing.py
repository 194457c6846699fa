"""The local executor's memory budget: cells start only while the planner's memory estimates of the running cells
fit the budget; a cell that could never fit is refused before anything is written. And the spec fields of packing
(`cells_per_gpu`) and of the analysis after a sweep (`analysis:`), with their one-line refusals."""

from __future__ import annotations

import json

import pytest

from concurrency_helpers import cell_intervals, peak_overlap
from scaling.errors import InputError
from scaling.sweep import parse_spec, run_sweep
from scaling.sweep.memory import cell_estimates
from scaling.sweep.plan import plan_sweep
from scaling.sweep.runfolder import RunFolder

TINY = {
    "name": "tiny",
    "dataset": {"emt": {"n": 60, "seed": 1}, "cutoff": 4.0},
    "split": {"val_fraction": 0.15, "test_fraction": 0.15},
    "axes": {"train_size": [8, 16, 24], "params": [560], "arch": ["twobody"], "seed": [0]},
    "training": {"max_epochs": 3, "batch_size": 4, "eval_batch_size": 32, "warmup_steps": 2,
                 "checkpoint_every_steps": 2},
    "executor": {"kind": "local", "local": {"max_parallel": 2}},
    "analysis": {"x": "train_size", "y": "val_loss", "group": ["arch", "n_params"], "law": "power"},
}


def with_budget(budget_mb: float) -> dict:
    return {**TINY, "executor": {"kind": "local", "local": {"max_parallel": 2, "memory_budget_mb": budget_mb}}}


@pytest.mark.slow  # two real sweeps of 3 tiny cells: about a minute on a loaded 2-core machine
@pytest.mark.parametrize("cells_allowed", [1, 2])
def test_the_memory_budget_bounds_the_cells_running_at_once(tmp_path, cells_allowed):
    plan = plan_sweep(parse_spec(TINY), "local", tmp_path / "run")
    _, estimates = cell_estimates(plan)
    largest = max(estimates.values())
    assert min(estimates.values()) > largest * 0.7  # one model size: so the budget below admits `cells_allowed`
    budget = largest * (cells_allowed + 0.4)
    run_dir = tmp_path / "run"
    report = run_sweep(parse_spec(with_budget(budget)), run_dir, cost_plan=plan)
    assert report.counts == {"done": 3, "running": 0, "pending": 0, "failed": 0}
    folder = RunFolder(run_dir)
    for cell_id in folder.cell_ids():  # every cell trained once
        assert len([a for a in folder.read_attempts(cell_id) if "event" not in a]) == 1
    recorded = json.loads((run_dir / "memory.json").read_text())
    assert recorded["budget_mb"] == budget and recorded["estimates_mb"] == estimates
    intervals = cell_intervals(folder)
    assert len(intervals) == 3
    assert peak_overlap(intervals, estimates) <= budget
    assert peak_overlap(intervals) == cells_allowed  # never more; and max_parallel=2 does reach 2 when allowed

    analysis = run_dir / "analysis"  # the spec's `analysis:` ran after the local sweep
    record = json.loads((analysis / "analysis.json").read_text())
    assert record["status"] == "done" and record["rows"] == 3 and record["counts"] == {"done": 3}
    assert {"results.csv", "fit.json", "fit.pdf", "fit.png"} <= set(record["outputs"])
    assert json.loads((analysis / "fit.json").read_text())["fits"][0]["law"] == "power"


def test_a_cell_above_the_whole_budget_is_refused_before_anything_is_written(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(InputError, match=r"field `executor.local.memory_budget_mb` = 1: cell twobody-N560-D\d+-s0-"
                                         r"\w+ needs about \d+ MB of cpu memory \(and 2 more\), more than the whole"):
        run_sweep(parse_spec(with_budget(1.0)), run_dir)
    assert not run_dir.exists()


@pytest.mark.parametrize("slurm, message", [
    ({"cells_per_job": 1, "cells_per_gpu": 2}, "`executor.slurm.cells_per_gpu` = 2: more than cells_per_job = 1"),
    ({"cells_per_job": 4, "cells_per_gpu": 2, "gpus": 2}, "`executor.slurm.cells_per_gpu` = 2: packing needs gpus <= 1"),
    ({"cells_per_gpu": 0}, "`executor.slurm.cells_per_gpu` = 0: Input should be greater than 0"),
])
def test_packing_fields_are_checked(slurm, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec({**TINY, "executor": {"kind": "slurm", "slurm": slurm}}, "x.yaml")


def test_analysis_fields_are_checked():
    with pytest.raises(InputError, match=r"x.yaml: field `analysis.law` = \"powr\": unknown law \(known: "):
        parse_spec({**TINY, "analysis": {"law": "powr"}}, "x.yaml")
    with pytest.raises(InputError, match=r"field `analysis.fit2d` = \"power\": unknown law"):
        parse_spec({**TINY, "analysis": {"fit2d": "power"}}, "x.yaml")
    assert parse_spec({**TINY, "analysis": {"fit2d": "chinchilla"}}).analysis.fit2d == "chinchilla"
