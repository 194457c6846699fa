"""The run folder: the frozen spec, one folder per cell (named by the hash of its settings), and state files.

```
RUN_DIR/
  spec.yaml                 the frozen spec (the union of every spec run into this folder)
  data/                     the dataset and graph store, built once and shared by every cell
  cells/<cell_id>/
    cell.json               the cell's settings (what its hash is taken over)
    state.json              pending | queued | running | done | failed, with host, pid, job id, reason, times
    attempts.jsonl          one line per start: when, where, and whether it resumed from a checkpoint
    metrics.jsonl, checkpoint.pt, best.pt, result.json   written by scaling.train.run_training
    log.txt                 the cell's log
  driver.json               the local driver's pid while `sweep run` drives local cells (driver.lock: its flock)
  retired.json              cells retired by `sweep prune` (still on disk under cells/, out of status and collect)
  jobs.json                 SLURM job ids and the cells each one runs; the analysis jobs
  plan.json                 the cost plan `sweep run` printed before training (scaling.sweep.plan.save_plan)
  memory.json               the local memory budget and each cell's estimate (scaling.sweep.memory)
  analysis/                 results.csv, fits, figures and analysis.json (scaling.sweep.analyse)
```
Every file except the append-only logs is written atomically (temp file + rename).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from scaling.atomic import atomic_write_json, atomic_write_text
from scaling.errors import InputError
from scaling.evaluate.stage import pending as evaluation_pending
from scaling.sweep.spec import Cell, SweepSpec, parse_spec, spec_to_yaml

SPEC_FILE = "spec.yaml"
CELLS_DIR = "cells"
STATE_FILE = "state.json"
RESULT_FILE = "result.json"
CELL_FILE = "cell.json"
ATTEMPTS_FILE = "attempts.jsonl"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
LOCK_FILE = ".lock"
AXES = ("train_size", "params", "arch", "seed")


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it is absent or unreadable (a reader never sees half a file anyway)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


class RunFolder:
    """One sweep's folder on disk."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()

    # ---- the spec -------------------------------------------------------------------------------------------
    @property
    def spec_path(self) -> Path:
        return self.path / SPEC_FILE

    def exists(self) -> bool:
        return self.spec_path.is_file()

    def load_spec(self) -> SweepSpec:
        if not self.exists():
            raise InputError(f"{self.path}: not a sweep run folder (no {SPEC_FILE})")
        try:
            data = yaml.safe_load(self.spec_path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InputError(f"{self.spec_path}: the frozen spec is not valid YAML ({first}); restore it from the "
                             f"spec you ran") from None
        return parse_spec(data, str(self.spec_path), frozen=True)

    def merged(self, spec: SweepSpec) -> SweepSpec:
        """The folder's frozen spec with `spec` merged in, written nowhere (`freeze` writes it).

        Changes that would alter existing cells (dataset, split, sampler, training budget, name) are refused;
        new axis values (new cells) are added; axis values in the old spec but not the new one are kept, so no
        cell is ever orphaned (`prune` retires them). The executor may change freely.
        """
        if not self.exists():
            return spec
        old = self.load_spec()
        self._refuse_changed(old, spec)
        axes = {
            name: tuple(getattr(old.axes, name)) + tuple(v for v in getattr(spec.axes, name) if v not in getattr(old.axes, name))
            for name in AXES
        }
        return spec.model_copy(update={"axes": old.axes.model_copy(update=axes)})

    def _refuse_changed(self, old: SweepSpec, spec: SweepSpec) -> None:
        if old.name != spec.name:
            raise InputError(f"{self.spec_path}: field `name` changed from {old.name!r} to {spec.name!r}; use a new --out")
        old_shared, new_shared = _flatten(old.shared_settings()), _flatten(spec.shared_settings())
        for key in sorted(set(old_shared) | set(new_shared)):
            if old_shared.get(key) != new_shared.get(key):
                raise InputError(
                    f"{self.spec_path}: field `{key}` changed from {json.dumps(old_shared.get(key))} to "
                    f"{json.dumps(new_shared.get(key))}; that would alter existing cells (only new axis values "
                    f"may be added); use a new --out"
                )

    def freeze(self, spec: SweepSpec) -> SweepSpec:
        """Write `spec` merged into the folder's frozen spec (see `merged`); returns the merged spec."""
        merged = self.merged(spec)
        if not self.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.spec_path, spec_to_yaml(merged))
        elif merged != self.load_spec():
            atomic_write_text(self.spec_path, spec_to_yaml(merged))
        return merged

    def prune(self, spec: SweepSpec) -> list[str]:
        """Retire the cells whose axis values are not in `spec`: the frozen spec keeps only the values `spec` also
        has (so status, run and collect no longer see those cells), the cells stay on disk, and RUN_DIR/retired.json
        lists them (with the time). Running a spec with the value again brings its cell back as it was.
        Returns the retired cell ids."""
        old = self.load_spec()
        self._refuse_changed(old, spec)
        axes = {name: tuple(v for v in getattr(old.axes, name) if v in getattr(spec.axes, name)) for name in AXES}
        empty = [name for name, values in axes.items() if not values]
        if empty:
            raise InputError(f"{self.spec_path}: field `axes.{empty[0]}`: no value in common with the spec; pruning "
                             f"would retire every cell (use a new --out instead)")
        pruned = old.model_copy(update={"axes": old.axes.model_copy(update=axes)})
        kept = {cell.cell_id for cell in pruned.cells()}
        retired = [cell.cell_id for cell in old.cells() if cell.cell_id not in kept]
        busy = [cell_id for cell_id in retired if self.cell_dir(cell_id).is_dir() and self.is_locked(cell_id)]
        if busy:
            raise InputError(f"{self.path}: cell {busy[0]} is running; stop the sweep before pruning")
        if retired:
            record = read_json(self.retired_path) or {"retired": []}
            record["retired"].extend({"cell_id": cell_id, "time": time.time()} for cell_id in retired)
            atomic_write_json(self.retired_path, record)
            atomic_write_text(self.spec_path, spec_to_yaml(pruned))
        return retired

    # ---- cells ----------------------------------------------------------------------------------------------
    def cell_dir(self, cell_id: str) -> Path:
        return self.path / CELLS_DIR / cell_id

    def ensure_cells(self, cells: list[Cell]) -> None:
        """Create the folder and settings file of every cell that has none yet, and rewrite a settings file that is
        unreadable or altered (it is a function of the spec, named by its hash, so rewriting it loses nothing)."""
        for cell in cells:
            settings_path = self.cell_dir(cell.cell_id) / CELL_FILE
            if read_json(settings_path) != cell.settings():
                atomic_write_json(settings_path, cell.settings())

    def cell_ids(self) -> list[str]:
        """Every cell of the frozen spec, in the spec's order."""
        return [cell.cell_id for cell in self.load_spec().cells()]

    def read_cell(self, cell_id: str) -> Cell:
        settings = read_json(self.cell_dir(cell_id) / CELL_FILE)
        if settings is None:
            raise InputError(f"{self.cell_dir(cell_id)}: missing or unreadable {CELL_FILE}")
        return Cell.model_validate(settings)

    def read_state(self, cell_id: str) -> dict[str, Any]:
        return read_json(self.cell_dir(cell_id) / STATE_FILE) or {"state": "pending"}

    def write_state(self, cell_id: str, state: str, **fields: Any) -> None:
        record = {"state": state, "time": time.time(), "host": socket.gethostname(), "pid": os.getpid(), **fields}
        atomic_write_json(self.cell_dir(cell_id) / STATE_FILE, record)

    def read_result(self, cell_id: str) -> dict[str, Any] | None:
        """The cell's result.json when it validates against `results.CellResult`, else None."""
        from scaling.sweep.results import read_result

        return read_result(self.cell_dir(cell_id) / RESULT_FILE)[0]

    def is_done(self, cell_id: str) -> bool:
        result = self.read_result(cell_id)
        return result is not None and result.get("status") == "done" and not evaluation_pending(self.cell_dir(cell_id))

    def append_attempt(self, cell_id: str, record: dict[str, Any]) -> None:
        """Append one line to the cell's attempt log (append-only; a torn last line is skipped by readers)."""
        with open(self.cell_dir(cell_id) / ATTEMPTS_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read_attempts(self, cell_id: str) -> list[dict[str, Any]]:
        return read_jsonl(self.cell_dir(cell_id) / ATTEMPTS_FILE)

    @contextmanager
    def cell_lock(self, cell_id: str) -> Iterator[bool]:
        """Hold the cell's lock (yields False, without waiting, if another process holds it).

        The kernel drops the lock when its holder dies, even by SIGKILL, so a held lock means a live run.
        """
        path = self.cell_dir(cell_id) / LOCK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_locked(self, cell_id: str) -> bool:
        with self.cell_lock(cell_id) as acquired:
            return not acquired

    # ---- shared files ---------------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def driver_path(self) -> Path:
        return self.path / "driver.json"

    @property
    def jobs_path(self) -> Path:
        return self.path / "jobs.json"

    @property
    def retired_path(self) -> Path:
        return self.path / "retired.json"

    @property
    def cancel_path(self) -> Path:
        return self.path / "cancelled.json"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of an append-only file (a line torn by a kill is skipped)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
