"""A real sweep on tiny EMT data: local workers, then resume (nothing retrained), growth, inline executor."""

from __future__ import annotations

import logging
import math

import pytest

from scaling.sweep import collect, parse_spec, run_sweep, sweep_status
from scaling.sweep.runfolder import RunFolder, read_jsonl
from sweep_helpers import TINY



def attempts(folder, cell_id):
    return [a for a in folder.read_attempts(cell_id) if "event" not in a]


@pytest.mark.slow  # 20 s alone on one free core, about 40 s on a loaded CI machine
def test_local_sweep_runs_resumes_and_grows(tmp_path):
    run_dir = tmp_path / "run"
    report = run_sweep(parse_spec(TINY), run_dir)
    assert report.counts == {"done": 2, "running": 0, "pending": 0, "failed": 0}
    folder = RunFolder(run_dir)
    table = collect(run_dir)
    assert len(table) == 2 and (table["status"] == "done").all()
    assert table["val_loss"].map(math.isfinite).all() and (table["epochs"] == 2).all()
    assert table["coverage"].between(0, 1).all() and table["coverage"].iloc[1] >= table["coverage"].iloc[0]
    assert set(table["device"]) == {"cpu"}
    states = [folder.read_state(c) for c in folder.cell_ids()]
    assert all(s["state"] == "done" and s["first_step_at"] >= s["picked_at"] for s in states)

    again = run_sweep(parse_spec(TINY), run_dir)  # same spec: nothing to do, nothing retrained
    assert again.submitted == [] and again.skipped_done == 2
    assert all(len(attempts(folder, c)) == 1 for c in folder.cell_ids())

    grown = {**TINY, "axes": {**TINY["axes"], "train_size": [8, 16, 24]}}
    report = run_sweep(parse_spec(grown), run_dir, executor="inline")
    assert len(report.submitted) == 1 and "-D24-" in report.submitted[0]
    assert sweep_status(run_dir)["counts"]["done"] == 3
    assert len(collect(run_dir, coverage=False)) == 3


def test_a_failing_cell_is_reported_and_does_not_stop_the_others(tmp_path):
    """A fault outside training (here the cell's log.txt is a directory) fails that cell only; the report says so."""
    spec = parse_spec({**TINY, "axes": {**TINY["axes"], "train_size": [8], "seed": [0, 1]}})
    folder = RunFolder(tmp_path / "run")
    folder.ensure_cells(folder.freeze(spec).cells())
    broken = folder.cell_ids()[0]
    (folder.cell_dir(broken) / "log.txt").mkdir()
    report = run_sweep(spec, tmp_path / "run")
    assert report.counts == {"done": 1, "running": 0, "pending": 0, "failed": 1}
    failed = [c for c in sweep_status(tmp_path / "run")["cells"] if c["status"] == "failed"][0]
    assert failed["cell_id"] == broken and "IsADirectoryError" in failed["reason"]
    assert report.summary_of_not_done().startswith("1 of 2 cells not done: 1 failed: IsADirectoryError")


def test_a_train_size_beyond_the_training_split_is_refused(tmp_path):
    from scaling.errors import InputError

    spec = {**TINY, "axes": {**TINY["axes"], "train_size": [8, 999]}}
    with pytest.raises(InputError, match=r"`axes.train_size` = \[999\]: larger than the 40 structures"):
        run_sweep(parse_spec(spec), tmp_path / "run", executor="inline")
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_an_interrupt_between_metrics_and_checkpoint_resumes_from_the_checkpoint(tmp_path, monkeypatch, caplog):
    """Stopped after epoch 2's metric line but before its checkpoint (a signal can land there): the next attempt
    records the checkpoint's epoch, not the line count, resumes there, and epoch 2 is trained again and logged once."""
    from scaling.train.loop import Run

    spec = parse_spec({**TINY, "axes": {**TINY["axes"], "train_size": [8]},
                       "training": {**TINY["training"], "max_epochs": 3}})
    run_dir = tmp_path / "run"
    save_checkpoint = Run.save_checkpoint

    def interrupted_after_epoch_two(run):
        if run.progress.epoch == 2 and run.progress.batch_pos == 0:
            raise KeyboardInterrupt  # as a signal handler would, between the metric line and the checkpoint
        save_checkpoint(run)

    monkeypatch.setattr(Run, "save_checkpoint", interrupted_after_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, run_dir, executor="inline")
    monkeypatch.setattr(Run, "save_checkpoint", save_checkpoint)
    folder = RunFolder(run_dir)
    (cell_id,) = folder.cell_ids()
    assert len(read_jsonl(folder.cell_dir(cell_id) / "metrics.jsonl")) == 2  # the line ran ahead of the checkpoint

    caplog.set_level(logging.INFO, logger="scaling")  # as the workers log: the cell's log.txt gets INFO
    run_sweep(spec, run_dir, executor="inline")
    first, second = attempts(folder, cell_id)
    assert first["epochs_before"] == 0 and second["resumed"] and second["epochs_before"] == 1
    assert "at epoch 1, batch 0" in (folder.cell_dir(cell_id) / "log.txt").read_text()
    assert [m["epoch"] for m in read_jsonl(folder.cell_dir(cell_id) / "metrics.jsonl")] == [1, 2, 3]
    assert sweep_status(run_dir)["counts"]["done"] == 1
