"""Run-folder states read by status and collect: done, running (a live lock), interrupted, failed, cancelled."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from scaling.errors import InputError
from scaling.sweep import COLUMNS, RunFolder, collect, parse_spec, run_sweep, sweep_status, write_table
from sweep_helpers import hold_lock

SPEC = {
    "name": "rf",
    "dataset": {"emt": {"n": 60}},
    "axes": {"train_size": [10, 20, 30], "params": [300, 600], "seed": [0]},
    "training": {"max_epochs": 2},
}


@pytest.fixture
def folder(tmp_path):
    folder = RunFolder(tmp_path / "run")
    spec = folder.freeze(parse_spec(SPEC))
    folder.ensure_cells(spec.cells())
    return folder


def write_result(folder, cell_id, **fields):
    row = {"status": "done", "reason": None, "n_params": 311, "width": 4, "depth": 3, "train_size": 10, "epochs": 2,
           "best_epoch": 2,
           "val_loss": 0.5, "test_energy_mae": 0.01, "test_force_mae": 0.2, "test_stress_mae": None,
           "train_seconds": 1.5, "device": "cpu", **fields}
    (folder.cell_dir(cell_id) / "result.json").write_text(json.dumps(row))


def test_status_reads_every_state(folder):
    ids = folder.cell_ids()
    write_result(folder, ids[0])
    folder.write_state(ids[1], "running")
    folder.write_state(ids[2], "running")  # its process died: nobody holds the lock
    (folder.cell_dir(ids[2]) / "metrics.jsonl").write_text('{"epoch": 1}\n{"epo')  # a torn last line
    folder.write_state(ids[3], "failed", reason="ValueError: boom")
    write_result(folder, ids[4], status="failed", reason="non-finite validation loss")
    holder = hold_lock(folder.cell_dir(ids[1]) / ".lock")
    try:
        status = sweep_status(folder.path)
    finally:
        holder.kill()
        holder.wait()
    cells = {cell["cell_id"]: cell for cell in status["cells"]}
    assert [cell["cell_id"] for cell in status["cells"]] == ids
    assert all(cell.pop("arch") == "twobody" and cell.pop("arch_options") == {} for cell in status["cells"])
    assert cells[ids[0]] == {"cell_id": ids[0], "status": "done", "epochs": 2, "reason": None}
    assert cells[ids[1]]["status"] == "running"
    assert cells[ids[2]] == {"cell_id": ids[2], "status": "pending", "epochs": 1, "reason": "interrupted"}
    assert cells[ids[3]]["status"] == "failed" and cells[ids[3]]["reason"] == "ValueError: boom"
    assert cells[ids[4]]["status"] == "failed" and "non-finite" in cells[ids[4]]["reason"]
    assert cells[ids[5]] == {"cell_id": ids[5], "status": "pending", "epochs": 0, "reason": None}
    assert status["counts"] == {"done": 1, "running": 1, "pending": 2, "failed": 2}
    # once the holder is gone the "running" cell is interrupted too
    assert sweep_status(folder.path)["cells"][1]["reason"] == "interrupted"


def test_cancelled_cells_say_so(folder):
    ids = folder.cell_ids()
    folder.write_state(ids[0], "running")
    folder.cancel_path.write_text("{}")
    assert sweep_status(folder.path)["cells"][0]["reason"] == "cancelled"


def test_collect_gives_one_row_per_cell(folder, tmp_path):
    ids = folder.cell_ids()
    write_result(folder, ids[0])
    table = collect(folder.path)
    assert list(table.columns) == list(COLUMNS) and len(table) == len(ids)
    assert list(table["cell_id"]) == ids
    done = table[table["status"] == "done"].iloc[0]
    assert done["n_params"] == 311 and done["params_target"] == 300 and done["val_loss"] == 0.5
    assert math.isnan(done["test_stress_mae"]) and math.isnan(done["coverage"])  # no store: coverage unknown
    pending = table[table["status"] == "pending"]
    assert len(pending) == len(ids) - 1 and pending["val_loss"].isna().all()
    for name in ("t.csv", "t.parquet"):
        write_table(table, tmp_path / name)
    assert pd.read_csv(tmp_path / "t.csv")["cell_id"].tolist() == ids
    assert pd.read_parquet(tmp_path / "t.parquet")["val_loss"].iloc[0] == 0.5
    with pytest.raises(InputError, match="must end in .csv or .parquet"):
        write_table(table, tmp_path / "t.xlsx")


def test_cli_status_and_collect(folder, tmp_path):
    write_result(folder, folder.cell_ids()[0])
    out = subprocess.run([sys.executable, "-m", "scaling.cli", "sweep", "status", str(folder.path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["counts"] == {"done": 1, "running": 0, "pending": 5, "failed": 0}
    table = tmp_path / "out.csv"
    subprocess.run([sys.executable, "-m", "scaling.cli", "-q", "sweep", "collect", str(folder.path), "-o", str(table),
                    "--no-coverage"], check=True)
    assert len(pd.read_csv(table)) == 6
    bad = subprocess.run([sys.executable, "-m", "scaling.cli", "sweep", "status", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "not a sweep run folder" in bad.stderr


def test_a_second_live_driver_is_refused(folder):
    """Another process holding the driver lock (as a live `sweep run` does) makes a second driver stop at once."""
    holder = hold_lock(folder.path / "driver.lock")
    try:
        folder.driver_path.write_text(json.dumps({"pid": holder.pid}))
        with pytest.raises(InputError, match=f"already being run by process {holder.pid}"):
            run_sweep(parse_spec({**SPEC, "axes": {**SPEC["axes"], "params": [560]}}), folder.path, executor="local")
    finally:
        holder.kill()
        holder.wait()
