"""Faults stay in the cell they hit, and a refused spec leaves the run folder as it was (issue 11 items 5-9).

Every test runs the real thing on tiny EMT data: real corrupt files, real processes, real locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from scaling.errors import InputError
from scaling.sweep import RunFolder, collect, parse_spec, run_sweep, sweep_status
from scaling.sweep.runfolder import read_jsonl
from sweep_helpers import hold_lock, snapshot

TINY = {
    "name": "trust",
    "dataset": {"emt": {"n": 60, "seed": 1}, "cutoff": 4.0},
    "split": {"val_fraction": 0.15, "test_fraction": 0.15},
    "axes": {"train_size": [8], "params": [560], "arch": ["twobody"], "seed": [0, 1]},
    "training": {"max_epochs": 2, "batch_size": 4, "eval_batch_size": 32, "warmup_steps": 2,
                 "checkpoint_every_steps": 2},
    "executor": {"kind": "local", "local": {"max_parallel": 2}},
}


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scaling.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "CI": "1"})


def attempts(folder, cell_id):
    return [a for a in folder.read_attempts(cell_id) if "event" not in a]


def frozen(tmp_path, spec=TINY) -> RunFolder:
    folder = RunFolder(tmp_path / "run")
    folder.ensure_cells(folder.freeze(parse_spec(spec)).cells())
    return folder


# ---- item 5: a corrupt checkpoint stays in its cell --------------------------------------------------------------
def test_a_corrupt_checkpoint_is_set_aside_and_the_cell_restarts(tmp_path):
    folder = frozen(tmp_path)
    bad, good = folder.cell_ids()
    (folder.cell_dir(bad) / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    report = run_sweep(parse_spec(TINY), folder.path)  # local workers: the driver must not crash
    assert report.counts["done"] == 2 and report.not_done == []
    (attempt,) = attempts(folder, bad)
    assert not attempt["resumed"] and attempt["epochs_before"] == 0  # restarted from scratch
    (repair,) = attempt["repairs"]
    assert repair["file"] == "checkpoint.pt" and "unreadable" in repair["reason"]
    kept = folder.cell_dir(bad) / repair["kept_as"]
    assert kept.name.startswith("checkpoint.corrupt-") and kept.read_bytes() == b"PK\x03\x04 not a checkpoint"
    assert "repairs" not in attempts(folder, good)[0]


def test_a_garbage_cell_json_is_rewritten_from_the_spec(tmp_path):
    folder = frozen(tmp_path, {**TINY, "axes": {**TINY["axes"], "seed": [0]}})
    (cell_id,) = folder.cell_ids()
    (folder.cell_dir(cell_id) / "cell.json").write_text("{garbage")
    report = run_sweep(parse_spec({**TINY, "axes": {**TINY["axes"], "seed": [0]}}), folder.path)
    assert report.counts["done"] == 1


# ---- item 6: a result counts only when it validates; unreadable results are re-finished, not retrained ----------
def test_invalid_results_are_refinished_from_best_pt_without_training(tmp_path):
    folder = frozen(tmp_path)
    run_sweep(parse_spec(TINY), folder.path, executor="inline")
    torn, bare = folder.cell_ids()
    before = {c: json.loads((folder.cell_dir(c) / "result.json").read_text()) for c in (torn, bare)}
    (folder.cell_dir(torn) / "result.json").write_text(json.dumps(before[torn])[:40])  # torn
    metrics = folder.cell_dir(torn) / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "garbage {", *lines[1:]]) + "\n")
    (folder.cell_dir(bare) / "result.json").write_text('{"status": "done"}')  # not a result
    cells = {c["cell_id"]: c for c in sweep_status(folder.path)["cells"]}
    assert cells[torn]["status"] == cells[bare]["status"] == "pending"
    assert "not JSON" in cells[torn]["reason"] and "n_params" in cells[bare]["reason"]
    assert collect(folder.path, coverage=False)["val_loss"].isna().all()  # an invalid result is no metric

    report = run_sweep(parse_spec(TINY), folder.path, executor="inline")
    assert sorted(report.submitted) == sorted([torn, bare]) and report.counts["done"] == 2
    for cell_id in (torn, bare):
        after = json.loads((folder.cell_dir(cell_id) / "result.json").read_text())
        for key in ("val_loss", "test_energy_mae", "test_force_mae", "epochs", "best_epoch", "steps", "n_params"):
            assert after[key] == before[cell_id][key], key
        second = attempts(folder, cell_id)[-1]
        assert second["resumed"] and second["epochs_before"] == 2  # from the final checkpoint: nothing retrained
        assert not [a for a in folder.read_attempts(cell_id) if a.get("event") == "first_step"
                    and a["attempt"] == second["attempt"]]  # not one optimiser step in the re-finishing attempt
    repairs = {r["file"] for r in attempts(folder, torn)[-1]["repairs"]}
    assert repairs == {"result.json", "metrics.jsonl"}
    assert [m["epoch"] for m in read_jsonl(metrics)] == [1, 2]


# ---- item 7: validate before anything is written; prune ---------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"axes": {**TINY["axes"], "train_size": [8, 999]}}, r"`axes.train_size` = \[999\]: larger than the 40"),
    ({"dataset": {"emt": {"n": 60, "seed": 1, "elements": ["Cu", "Xx"]}, "cutoff": 4.0}},
     r"`dataset.emt.elements` = \['Cu', 'Xx'\]: EMT cannot label element 'Xx'"),
    ({"dataset": {"path": "/nonexistent/pool.extxyz", "cutoff": 4.0}}, r"`dataset.path` = '/nonexistent/pool.extxyz'"),
    ({"axes": {**TINY["axes"], "params": [560, 640]}},
     r"`axes.params` = 640 \(twobody, 7 elements\): no width reaches it within 5%; nearest reachable counts: "
     r"553 \(width 2, depth 3\) and 711 \(width 3, depth 3\)"),
])
def test_a_refused_spec_leaves_the_folder_byte_for_byte_unchanged(tmp_path, change, message):
    folder = frozen(tmp_path)
    before = snapshot(folder.path)
    with pytest.raises(InputError, match=message if "axes" in change else "changed from"):
        run_sweep(parse_spec({**TINY, **change}), folder.path, executor="inline")
    assert snapshot(folder.path) == before
    with pytest.raises(InputError, match=message):  # into a new folder: nothing is created
        run_sweep(parse_spec({**TINY, **change}), tmp_path / "fresh", executor="inline")
    assert not (tmp_path / "fresh").exists()
    assert len(folder.cell_ids()) == 2  # no phantom cells


def test_every_spec_error_is_printed_and_the_original_spec_still_runs(tmp_path):
    spec_path = tmp_path / "bad.yaml"
    spec_path.write_text(yaml.safe_dump({**TINY, "axes": {**TINY["axes"], "train_size": [8, 999],
                                                          "params": [560, 100]}}))
    run = cli("sweep", "run", spec_path, "--out", tmp_path / "run")
    assert run.returncode == 2 and not (tmp_path / "run").exists()
    lines = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(lines) == 2 and "axes.train_size" in lines[0] and "axes.params` = 100" in lines[1]
    assert "smallest model has 413" in lines[1] and all(str(spec_path) in line for line in lines)
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump({**TINY, "axes": {**TINY["axes"], "params": [0], "seed": [0, 0]}}))
    run = cli("sweep", "run", two, "--out", tmp_path / "run")
    assert run.returncode == 2 and "more)" not in run.stderr and run.stderr.count("error:") == 2

    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({**TINY, "axes": {**TINY["axes"], "seed": [0]}, "executor": "inline"}))
    assert cli("sweep", "run", good, "--out", tmp_path / "run").returncode == 0


def test_prune_retires_cells_that_left_the_spec(tmp_path):
    grid = {**TINY, "axes": {**TINY["axes"], "train_size": [8, 16], "seed": [0]}}
    folder = frozen(tmp_path, grid)
    d8, d16 = folder.cell_ids()
    (folder.cell_dir(d16) / "log.txt").write_text("kept")
    spec_path = tmp_path / "pruned.yaml"
    spec_path.write_text(yaml.safe_dump({**grid, "axes": {**grid["axes"], "train_size": [8]}}))
    run = cli("sweep", "prune", folder.path, spec_path)
    assert run.returncode == 0 and "1 cells retired" in run.stderr
    assert folder.cell_ids() == [d8]
    assert [c["cell_id"] for c in sweep_status(folder.path)["cells"]] == [d8]
    assert list(collect(folder.path, coverage=False)["cell_id"]) == [d8]
    assert (folder.cell_dir(d16) / "log.txt").read_text() == "kept"  # kept on disk
    assert [r["cell_id"] for r in json.loads(folder.retired_path.read_text())["retired"]] == [d16]
    with pytest.raises(InputError, match="no value in common"):
        folder.prune(parse_spec({**grid, "axes": {**grid["axes"], "train_size": [32]}}))
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**grid, "training": {**grid["training"], "max_epochs": 3}}))
    assert cli("sweep", "prune", folder.path, changed).returncode == 2


# ---- item 8: exactly one driver ---------------------------------------------------------------------------------
DRIVER = """
import os, sys, time
from scaling.errors import InputError
from scaling.sweep import load_spec, run_sweep
spec = load_spec(sys.argv[1])
while not os.path.exists(sys.argv[3]):
    pass
try:
    run_sweep(spec, sys.argv[2], executor="inline")
    print("ran")
except InputError as error:
    print("refused:", error)
"""


def test_two_drivers_released_together_give_exactly_one_runner(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({**TINY, "axes": {**TINY["axes"], "seed": [0]}}))
    frozen(tmp_path, {**TINY, "axes": {**TINY["axes"], "seed": [0]}})  # the folder exists, as on a rerun
    go = tmp_path / "go"
    drivers = [subprocess.Popen([sys.executable, "-c", DRIVER, str(spec_path), str(tmp_path / "run"), str(go)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(8)  # both have imported and validated, and spin on the start file
    go.write_text("")
    outputs = sorted(d.communicate(timeout=300)[0].strip() for d in drivers)
    assert outputs[0] == "ran" and outputs[1].startswith("refused:") and "already being run" in outputs[1]


def test_the_claim_is_the_lock_not_the_pid_file(tmp_path):
    """The instant between a driver taking its claim and recording its pid, made to last: another process holds
    the driver lock and driver.json is absent. A reader of driver.json alone would run a second driver."""

    folder = frozen(tmp_path, {**TINY, "axes": {**TINY["axes"], "seed": [0]}})
    holder = hold_lock(folder.path / "driver.lock")
    try:
        with pytest.raises(InputError, match="already being run by another process"):
            run_sweep(parse_spec({**TINY, "axes": {**TINY["axes"], "seed": [0]}}), folder.path, executor="inline")
    finally:
        holder.kill()
        holder.wait()
    assert folder.read_attempts(folder.cell_ids()[0]) == []  # no cell was started


# ---- item 9: exit non-zero whenever asked-for cells are not done -----------------------------------------------
def test_run_exits_nonzero_when_the_worker_pool_keeps_breaking(tmp_path):
    """Kill every worker process the driver starts: the pool breaks again and again; the run must say so."""
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], "max_epochs": 50}}))
    driver = subprocess.Popen([sys.executable, "-m", "scaling.cli", "sweep", "run", str(spec_path), "--out",
                               str(tmp_path / "run")], stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "CI": "1"})
    while driver.poll() is None:
        for child in _children(driver.pid):
            try:
                os.kill(child, 9)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    stderr = driver.stderr.read()
    assert driver.returncode == 1, stderr
    assert "2 of 2 cells not done; the worker pool broke 4 times" in stderr, stderr[-3000:]


def _children(pid: int) -> list[int]:
    """The driver's worker processes (spawned by multiprocessing; not its resource tracker)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            for child in (task / "children").read_text().split():
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    children.append(int(child))
        except OSError:
            pass
    return children


# ---- items 10/11: one line and exit 2, before anything runs -----------------------------------------------------
@pytest.mark.parametrize("value, expected", [(2.5, "valid integer"), (True, "valid integer"), ("3", "valid integer")])
def test_training_fields_are_strictly_typed(value, expected):
    with pytest.raises(InputError, match=rf"field `training.max_epochs` = .*{expected}"):
        parse_spec({**TINY, "training": {**TINY["training"], "max_epochs": value}})


def test_range_errors_of_training_fields_name_field_and_value():
    with pytest.raises(InputError, match=r"field `training.batch_size` = 0: must be positive"):
        parse_spec({**TINY, "training": {**TINY["training"], "batch_size": 0}})


def test_bad_paths_give_one_line_and_exit_2(tmp_path):
    run = cli("sweep", "run", tmp_path, "--out", tmp_path / "run")  # a directory as the spec
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "is a directory" in run.stderr
    folder = frozen(tmp_path)
    folder.spec_path.write_text("name: [unclosed\n  - : :")
    status = cli("sweep", "status", folder.path)
    assert status.returncode == 2 and status.stderr.count("\n") == 1 and "spec.yaml" in status.stderr
    assert "Traceback" not in status.stderr


def test_help_points_only_at_files_in_the_project():
    assert "DESIGN.md" not in cli("sweep", "status", "--help").stdout
    docs = Path(__file__).resolve().parents[1] / "docs"
    for page in ("data.md", "sweeps.md"):
        assert "CONTRACTS.md" not in (docs / page).read_text() and "/tmp/team" not in (docs / page).read_text()


def test_demo_options_are_checked_before_any_work(tmp_path):
    started = time.time()
    bad = cli("demo", "--bootstrap", "-1", "--out", tmp_path / "demo")
    assert bad.returncode == 2 and "--bootstrap -1" in bad.stderr and bad.stderr.count("\n") == 1
    (tmp_path / "file").write_text("")
    bad = cli("demo", "--out", tmp_path / "file")
    assert bad.returncode == 2 and "not a directory" in bad.stderr
    assert not (tmp_path / "demo").exists() and time.time() - started < 60  # nothing trained, nothing written
