"""What a user sees while a sweep runs: one decision (live / lines / off), plain lines in a log, a live view that
log records do not break."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys

import time

import pytest
import yaml

from scaling.atomic import atomic_write_json
from scaling.console import progress_mode
from scaling.sweep import RunFolder, parse_spec
from scaling.sweep.progress import SweepLiveView, SweepProgressLines
from sweep_helpers import TINY


def test_progress_mode_is_live_only_on_a_terminal_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    primary, secondary = os.openpty()
    with open(secondary, "w") as terminal:
        assert progress_mode(False, terminal) == "live"
        assert progress_mode(True, terminal) == "off"
        monkeypatch.setenv("CI", "1")
        assert progress_mode(False, terminal) == "lines"
    os.close(primary)
    assert progress_mode(False, io.StringIO()) == "lines"


def test_no_command_decides_progress_on_its_own():
    """The isatty/CI test lives in scaling.console alone (the sweep, demo, data and train commands ask it)."""
    from pathlib import Path

    import scaling

    root = Path(scaling.__file__).parent
    for name in ("sweep", "demo", "data", "train"):
        source = (root / "commands" / f"{name}.py").read_text()
        assert "isatty" not in source and '"CI"' not in source, name


@pytest.mark.slow  # a real sweep: about 20 s on a loaded machine
def test_a_piped_sweep_prints_progress_lines(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    env = {**os.environ, "SCALING_PROGRESS_SECONDS": "1", "SCALING_CACHE": str(tmp_path / "cache")}
    env.pop("CI", None)
    run = subprocess.run([sys.executable, "-m", "scaling.cli", "sweep", "run", str(spec), "--out",
                          str(tmp_path / "run")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("scaling sweep: ")]
    assert len(lines) >= 2, run.stderr
    assert re.fullmatch(r"scaling sweep: 2/2 cells done, 0 running, 0 failed; \d+ s elapsed, nothing left", lines[-1])
    assert "\x1b[" not in run.stderr  # plain text: no terminal control sequences in a log


def test_log_records_print_through_the_live_view(monkeypatch):
    from rich.console import Console

    out = io.StringIO()
    before = logging.getLogger().handlers[:]
    with SweepLiveView(Console(file=out, force_terminal=True, width=100)):
        handlers = logging.getLogger().handlers
        assert len(handlers) == 1 and handlers[0].console.file is out
        logging.getLogger("scaling.test").warning("a message during the sweep")
    assert "a message during the sweep" in out.getvalue()
    assert logging.getLogger().handlers == before


@pytest.mark.slow  # a real one-cell sweep: about 40 s on a loaded machine
def test_a_cell_trains_with_the_same_threads_however_many_cells_are_left(tmp_path):
    """Thread count changes torch's summation order (val_loss differs in the 8th digit), so it must follow from the
    spec and the machine only: one cell left of a max_parallel-unset sweep gets cores // cores = 1 thread, as in
    the full run, not every core."""
    import json

    from scaling.sweep import parse_spec, run_sweep
    from scaling.sweep.runfolder import RunFolder

    spec = {**TINY, "axes": {**TINY["axes"], "train_size": [8]}, "executor": {"kind": "local", "local": {}}}
    run_sweep(parse_spec(spec), tmp_path / "run")
    folder = RunFolder(tmp_path / "run")
    (cell_id,) = folder.cell_ids()
    assert json.loads((folder.cell_dir(cell_id) / "config.json").read_text())["threads"] == 1


def test_the_remaining_time_follows_the_planned_seconds_of_the_cells_left(tmp_path):
    """Two cells, D = 8 (planned 10 s) and D = 16 (planned 30 s): after the small one took 10 s, 30 s are left.
    By D x N alone it would say 20 s: a step budget (epochs, a step cap) makes cost not proportional to D."""
    folder = RunFolder(tmp_path / "run")
    cells = folder.freeze(parse_spec(TINY)).cells()
    folder.ensure_cells(cells)
    small, large = sorted(cells, key=lambda c: c.train_size)
    atomic_write_json(folder.path / "plan.json", {"cells": [
        {"cell_id": small.cell_id, "status": "todo", "train_seconds": 9.0, "test_seconds": 1.0},
        {"cell_id": large.cell_id, "status": "todo", "train_seconds": 28.0, "test_seconds": 2.0}]})
    lines = SweepProgressLines("test", stream=io.StringIO(), interval=3600)
    lines.folder, lines._done_before, lines._cells_since = folder, set(), time.monotonic() - 10.0
    status = [{"cell_id": small.cell_id}, {"cell_id": large.cell_id}]
    assert lines._remaining(status, {small.cell_id}) == "about 30 s left"
