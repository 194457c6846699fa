"""Measured compute per run (scaling.train.compute), the sweep planner (scaling.sweep.plan) and train_flops fits."""

from __future__ import annotations

import json
import math

import pytest
import torch
from models_helpers import emt_run_data

from scaling.train import TrainConfig, run_training
from scaling.train.checkpoint import load
from scaling.train.compute import count_flops, step_flops, structures_seen

COMPUTE_FIELDS = ("flops_per_step", "flops_per_structure", "structures_seen", "train_flops", "device_seconds",
                  "peak_rss_mb", "peak_cuda_mb", "flops_uncounted_ops")


def test_flop_counter_gives_the_analytic_count_of_a_linear_layer():
    """Forward y = x W^T (2BIO), backward dL/dx and dL/dW (2BIO each): 6BIO, computed here, not by the counter."""
    batch, inputs, outputs = 5, 7, 3
    layer = torch.nn.Linear(inputs, outputs, bias=False)
    x = torch.randn(batch, inputs, requires_grad=True)

    def step():
        (layer(x) ** 2).sum().backward()

    flops, uncounted = count_flops(step)
    assert flops == 6 * batch * inputs * outputs
    assert "pow" in uncounted  # the elementwise square has no formula: listed, not silently dropped


def test_probe_leaves_rng_weights_and_gradients_untouched():
    from scaling.models.potential import ModelConfig, Potential
    from scaling.train import losses

    class DropoutPotential(Potential):  # an architecture that draws random numbers in training mode
        def atomic_energies(self, z, vectors, edge_index, **graph):
            energies = super().atomic_energies(z, vectors, edge_index, **graph)
            return torch.nn.functional.dropout(energies, 0.1, self.training)

    data = emt_run_data(n_train=8, n_val=1, n_test=1)
    model = DropoutPotential(ModelConfig(arch="threebody", width=8, elements=data.elements, cutoff=data.cutoff,
                                         options={"depth": 2}))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(3)
    rng = torch.get_rng_state()
    counted = step_flops(model, [data.train.batch(range(4)), data.train.batch(range(4, 8))], losses.LossSettings(),
                         torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert counted["flops_per_step"] == pytest.approx(4 * counted["flops_per_structure"])
    assert counted["probe_structures"] == 8


def _train(tmp_path, name, n_train, params, **overrides):
    config = TrainConfig(params=params, arch="twobody", max_epochs=2, batch_size=4, seed=1, warmup_steps=2,
                         threads=1, device="cpu", **overrides)
    return run_training(config, tmp_path / name, data=emt_run_data(n_train=n_train, n_val=4, n_test=4))


def test_train_flops_grow_with_d_and_n_as_steps_and_sizes_say(tmp_path):
    small = _train(tmp_path, "d8", 8, 1500)
    more_data = _train(tmp_path, "d16", 16, 1500)
    bigger = _train(tmp_path, "n6000", 16, 6000)
    for result in (small, more_data, bigger):
        assert all(key in result for key in COMPUTE_FIELDS)
        assert result["structures_seen"] == result["epochs"] * int(result["train_size"])  # whole epochs
        assert result["train_flops"] == pytest.approx(result["flops_per_structure"] * result["structures_seen"])
        assert result["device_seconds"] > 0 and result["peak_rss_mb"] > 50 and result["peak_cuda_mb"] is None
    # same model, twice the data and so twice the steps: twice the FLOPs (structures differ only slightly)
    assert more_data["train_flops"] / small["train_flops"] == pytest.approx(2.0, rel=0.1)
    # four times the parameters on the same data: per-structure FLOPs grow with the model (width^2 matmuls)
    assert bigger["n_params"] / more_data["n_params"] == pytest.approx(4, rel=0.1)
    assert 2.0 < bigger["flops_per_structure"] / more_data["flops_per_structure"] < 6.0
    assert structures_seen(steps=5, train_size=10, batch_size=4) == 10 + 4 + 4  # epoch of 3 steps, then 2 more

    # the new column is an axis like any other: loss against training compute
    import pandas as pd

    from scaling.cli import main

    columns = ["train_flops", "val_loss", "n_params", "train_size"]
    pd.DataFrame([{k: r[k] for k in columns} for r in (small, more_data, bigger)]).to_csv(tmp_path / "t.csv")
    assert main(["fit", str(tmp_path / "t.csv"), "--x", "train_flops", "--y", "val_loss", "--law", "power",
                 "--json", str(tmp_path / "fit.json")]) == 0
    assert json.loads((tmp_path / "fit.json").read_text())["fits"][0]["n_points"] == 3


def test_the_probe_travels_in_the_checkpoint_and_survives_resume(tmp_path):
    class Interrupt(Exception):
        pass

    straight = _train(tmp_path, "straight", 16, 1500, checkpoint_every_steps=3)

    def interrupt(step):
        if step == 5:
            raise Interrupt

    config = TrainConfig(params=1500, arch="twobody", max_epochs=2, batch_size=4, seed=1, warmup_steps=2, threads=1,
                         device="cpu", checkpoint_every_steps=3)
    data = emt_run_data(n_train=16, n_val=4, n_test=4)
    with pytest.raises(Interrupt):
        run_training(config, tmp_path / "resumed", data=data, on_step=interrupt)
    saved = load(tmp_path / "resumed" / "checkpoint.pt")["compute"]
    assert saved["flops"]["flops_per_structure"] == pytest.approx(straight["flops_per_structure"])
    assert saved["peak_rss_mb"] > 50
    resumed = run_training(config, tmp_path / "resumed", data=data)
    for key in ("flops_per_step", "flops_per_structure", "structures_seen", "train_flops"):
        assert resumed[key] == pytest.approx(straight[key]), key
    assert resumed["peak_rss_mb"] >= saved["peak_rss_mb"]


# ---- the planner ------------------------------------------------------------------------------------------------
TINY = {
    "name": "tiny",
    "dataset": {"emt": {"n": 60, "seed": 1}, "cutoff": 4.0},
    "split": {"val_fraction": 0.15, "test_fraction": 0.15},
    "axes": {"train_size": [8, 16], "params": [560, 1500], "arch": ["twobody"], "seed": [0]},
    "training": {"max_epochs": 2, "batch_size": 4, "eval_batch_size": 32, "warmup_steps": 2,
                 "checkpoint_every_steps": 2},
    "executor": {"kind": "local", "local": {"max_parallel": 2}},
}


def _files(path):
    return sorted((str(p), p.stat().st_mtime_ns) for p in path.rglob("*"))


def test_plan_has_every_cell_and_totals_and_writes_nothing(tmp_path, capsys):
    from scaling.cli import main

    spec_path = tmp_path / "tiny.yaml"
    spec = {**TINY, "axes": {**TINY["axes"], "params": [100, 560, 1500]}}  # no model has 100 parameters
    spec_path.write_text(json.dumps(spec))
    before = _files(tmp_path)
    assert main(["sweep", "plan", str(spec_path), "--out", str(tmp_path / "run"), "--json"]) == 0
    assert _files(tmp_path) == before  # no run folder, nothing else
    plan = json.loads(capsys.readouterr().out)
    cells = {c["cell_id"]: c for c in plan["cells"]}
    assert len(cells) == 6 and plan["totals"]["cells"] == 6
    failing = [c for c in cells.values() if c["params_target"] == 100]
    assert all(c["status"] == "error" and "100 parameters" in c["error"] for c in failing)
    assert sum("will fail" in w for w in plan["warnings"]) == 2
    todo = [c for c in cells.values() if c["status"] == "todo"]
    assert len(todo) == 4 and plan["totals"]["cells_to_train"] == 4
    for cell in todo:
        assert cell["steps"] == 2 * math.ceil(cell["train_size"] / 4)
        assert abs(cell["n_params"] - cell["params_target"]) <= 0.05 * cell["params_target"]
        assert cell["train_seconds"] > 0 and cell["peak_rss_mb"] > 50
    by = {(c["params_target"], c["train_size"]): c for c in todo}
    assert by[560, 16]["train_flops"] == pytest.approx(2 * by[560, 8]["train_flops"])
    assert by[1500, 8]["train_flops"] > by[560, 8]["train_flops"]
    assert by[560, 16]["train_seconds"] > by[560, 8]["train_seconds"]
    assert plan["totals"]["train_flops"] == pytest.approx(sum(c["train_flops"] for c in todo))
    assert plan["totals"]["core_hours"] == pytest.approx(sum(c["device_seconds"] for c in todo) / 3600)
    assert all(0 < c["device_seconds"] <= 1.5 * c["train_seconds"] * plan["threads_per_cell"] for c in todo)


def test_plan_warns_about_the_slurm_time_limit(tmp_path):
    from scaling.sweep import parse_spec
    from scaling.sweep.plan import plan_sweep

    spec = parse_spec({**TINY, "axes": {**TINY["axes"], "train_size": [16], "params": [560]},
                       "training": {**TINY["training"], "max_epochs": 5000},
                       "executor": {"kind": "slurm", "slurm": {"time_min": 1, "max_requeues": 1, "cpus": 1}}})
    plan = plan_sweep(spec, run_dir=tmp_path / "run")
    assert plan.cells[0].train_seconds > 60
    assert len(plan.warnings) == 1 and "SLURM time limit of 1 min" in plan.warnings[0]
    assert "will not finish" in plan.warnings[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_collected_sweep_has_compute_columns_plans_as_done_and_fits_on_train_flops(tmp_path, capsys):
    from scaling.cli import main
    from scaling.sweep import collect, parse_spec, write_table

    settings = {**TINY, "axes": {**TINY["axes"], "train_size": [8, 16, 24], "params": [560]}}
    spec, spec_path, run_dir = parse_spec(settings), tmp_path / "tiny.yaml", tmp_path / "run"
    spec_path.write_text(json.dumps(settings))
    assert main(["sweep", "run", str(spec_path), "--out", str(run_dir), "--executor", "inline"]) == 0
    assert "plan: 3 cells to train" in capsys.readouterr().err  # the total, printed before training
    table = collect(run_dir, coverage=False)
    assert (table["train_flops"] > 0).all() and (table["device_seconds"] > 0).all()
    assert table["train_flops"].is_monotonic_increasing  # D = 8, 16, 24 at the same N and epochs
    write_table(table, tmp_path / "results.csv")

    from scaling.sweep.plan import plan_sweep

    before = _files(run_dir)
    plan = plan_sweep(spec, run_dir=run_dir)
    assert _files(run_dir) == before
    assert [c.status for c in plan.cells] == ["done"] * 3 and plan.totals["cells_to_train"] == 0

    out = tmp_path / "fit.json"
    assert main(["fit", str(tmp_path / "results.csv"), "--x", "train_flops", "--y", "val_loss", "--law", "power",
                 "--json", str(out)]) == 0
    fit = json.loads(out.read_text())["fits"][0]
    assert fit["n_points"] == 3 and math.isfinite(fit["rmsle"])


def test_the_probe_samples_the_pool_preflight_read_and_builds_the_same_graphs(tmp_path, monkeypatch):
    """`sweep run` hands the planner preflight's pool: no second EMT generation, and the probe's 48 structures are
    the pool's first 48 with the same graphs (edges, hence FLOPs) and energies as the generated sample."""
    import numpy as np

    from scaling.data import emt
    from scaling.sweep import parse_spec
    from scaling.sweep.plan import _sample
    from scaling.sweep.preflight import check_spec
    from scaling.sweep.runfolder import RunFolder

    spec = parse_spec(TINY)
    pool = check_spec(spec, "tiny").pool.structures
    own = _sample(spec, RunFolder(tmp_path / "none"), tmp_path / "a")
    generated = []
    monkeypatch.setattr(emt, "generate", lambda *a, **k: generated.append(a) or [])
    shared = _sample(spec, RunFolder(tmp_path / "none"), tmp_path / "b", pool)
    assert generated == []  # the pool was used, nothing generated again
    assert len(shared.store) == len(own.store) == 48 and shared.n_pool == own.n_pool == 60
    assert (shared.elements, shared.cutoff, shared.n_val, shared.source) == (own.elements, own.cutoff, own.n_val,
                                                                             own.source)
    np.testing.assert_array_equal(shared.store.edge_ptr, own.store.edge_ptr)
    np.testing.assert_array_equal(shared.store.energy, own.store.energy)


def test_sweep_run_saves_its_plan_and_the_benchmark_compares_it_with_the_run(tmp_path, capsys, monkeypatch):
    """RUN_DIR/plan.json is the plan `sweep run` printed, made on preflight's pool (no 48-structure sample generated
    apart); bench_planner.py --run-dir compares it with each cell's result.json."""
    import subprocess
    import sys
    from pathlib import Path

    from scaling.data import emt
    from scaling.cli import main

    sizes, generate = [], emt.generate
    monkeypatch.setattr(emt, "generate", lambda n, *a, **k: sizes.append(n) or generate(n, *a, **k))

    settings = {**TINY, "axes": {**TINY["axes"], "train_size": [8, 16], "params": [560]},
                "training": {**TINY["training"], "max_epochs": 1}}
    spec_path, run_dir = tmp_path / "tiny.yaml", tmp_path / "run"
    spec_path.write_text(json.dumps(settings))
    assert main(["sweep", "run", str(spec_path), "--out", str(run_dir), "--executor", "inline"]) == 0
    assert 48 not in sizes
    printed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("plan:")]
    saved = json.loads((run_dir / "plan.json").read_text())
    from scaling.sweep.plan import Plan, summary_line

    assert printed == [summary_line(Plan(**{k: v for k, v in saved.items() if k != "planned_at"}))]
    assert [c["status"] for c in saved["cells"]] == ["todo", "todo"] and saved["data"].startswith("the first 48")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_planner.py"), "--run-dir", str(run_dir)],
                         capture_output=True, text=True, check=True).stdout
    assert "wall (train_seconds): 2 cells, median ratio" in out and "CPU (device_seconds): 2 cells" in out
    results = {p.parent.name: json.loads(p.read_text()) for p in run_dir.glob("cells/*/result.json")}
    for cell in saved["cells"]:
        measured = results[cell["cell_id"]]["train_seconds"]
        ratio = max(cell["train_seconds"] / measured, measured / cell["train_seconds"])
        assert f"{ratio:5.2f}" in out.split(cell["cell_id"][:34])[1].splitlines()[0]
