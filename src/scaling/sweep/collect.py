"""The tidy table: one row per cell of the frozen spec (the columns of docs/sweeps.md), whatever state each cell is in.

Metrics come from each cell's result.json (written by scaling.train); cells without a final result get their
settings, their status and NaN metrics, so the table always has exactly one row per cell. `arch_options` is the
spec's options of the cell's architecture as JSON ("{}": the architecture's defaults). `coverage` is the
fraction of the pool's local environments that the cell's training subset reaches (scaling.data.coverage),
computed once per (train_size, seed) and cached in RUN_DIR/data/coverage.json; NaN where it cannot be computed.
Cells evaluated by the spec's `evaluation:` stage add their use-case metric columns after these (NaN elsewhere).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from scaling.atomic import atomic_write_bytes, atomic_write_json
from scaling.data.store import is_store
from scaling.errors import InputError
from scaling.sweep.runfolder import RunFolder, read_json
from scaling.sweep.status import sweep_status

# Measured compute (scaling.train.compute): FLOPs as counted by torch's FlopCounterMode (matrix products).
COMPUTE_COLUMNS = ("flops_per_step", "flops_per_structure", "structures_seen", "train_flops", "device_seconds",
                   "peak_rss_mb", "peak_cuda_mb")
COLUMNS = (
    "sweep", "cell_id", "arch", "arch_options", "n_params", "width", "depth", "train_size", "seed", "status", "reason",
    "best_epoch", "epochs", "val_loss", "test_energy_mae", "test_force_mae", "test_stress_mae", "coverage",
    "sampler", "params_target", "train_seconds", "device",
    *COMPUTE_COLUMNS,
)
RESULT_FIELDS = ("n_params", "width", "depth", "best_epoch", "epochs", "val_loss", "test_energy_mae",
                 "test_force_mae", "test_stress_mae", "train_seconds", "device", *COMPUTE_COLUMNS)


def collect_rows(run_dir: str | os.PathLike, coverage: bool = True) -> list[dict[str, Any]]:
    folder = RunFolder(run_dir)
    spec = folder.load_spec()
    status = {cell["cell_id"]: cell for cell in sweep_status(folder.path)["cells"]}
    coverages = _coverages(folder, spec) if coverage else {}
    rows = []
    for cell in spec.cells():
        result = folder.read_result(cell.cell_id) or {}
        row: dict[str, Any] = {name: result.get(name) for name in RESULT_FIELDS}
        row.update(
            sweep=spec.name, cell_id=cell.cell_id, arch=cell.arch, train_size=cell.train_size, seed=cell.seed,
            arch_options=json.dumps(cell.arch_options, sort_keys=True),
            status=status[cell.cell_id]["status"], reason=status[cell.cell_id]["reason"],
            params_target=cell.n_params, sampler=spec.split.sampler,
            coverage=coverages.get((cell.train_size, cell.seed), math.nan),
        )
        if row["n_params"] is None:
            row["n_params"] = cell.n_params  # the target until the model is built; the true count after
        if row["epochs"] is None:
            row["epochs"] = status[cell.cell_id]["epochs"]
        rows.append({**{name: row.get(name) for name in COLUMNS}, **evaluation_columns(result)})
    return rows


def evaluation_columns(result: dict[str, Any]) -> dict[str, Any]:
    """The use-case metrics a cell's evaluation stage merged into result.json (docs/usecase.md names them), plus
    `eval_seconds`; empty for a cell without evaluation."""
    evaluation = result.get("evaluation") or {}
    if not evaluation:
        return {}
    return {**evaluation.get("metrics", {}), "eval_seconds": evaluation.get("seconds")}


def collect(run_dir: str | os.PathLike, coverage: bool = True):
    """The tidy table as a pandas DataFrame (metrics as floats, NaN where missing)."""
    import pandas as pd

    rows = collect_rows(run_dir, coverage)
    extra = list(dict.fromkeys(name for row in rows for name in row if name not in COLUMNS))
    table = pd.DataFrame(rows, columns=list(COLUMNS) + extra)
    for name in extra:
        table[name] = pd.to_numeric(table[name], errors="coerce").astype(float)
    for name in ("val_loss", "test_energy_mae", "test_force_mae", "test_stress_mae", "coverage", "train_seconds",
                 *COMPUTE_COLUMNS):
        table[name] = pd.to_numeric(table[name], errors="coerce").astype(float)
    for name in ("n_params", "width", "depth", "best_epoch", "epochs"):
        table[name] = pd.to_numeric(table[name], errors="coerce").astype("Int64")
    return table


def write_table(table, path: str | os.PathLike) -> Path:
    """Write CSV or Parquet (by the file's extension), atomically."""
    import io

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        atomic_write_bytes(path, table.to_csv(index=False).encode())
    elif suffix in (".parquet", ".pq"):
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        raise InputError(f"{path}: output must end in .csv or .parquet, got {suffix or 'no extension'!r}")
    return path


def _coverages(folder: RunFolder, spec) -> dict[tuple[int, int], float]:
    """Coverage per (train_size, seed), cached; empty (so NaN) until the store and scaling.data.coverage exist."""
    store = folder.data_dir / "store"
    if not is_store(store):
        return {}
    cache_path = folder.data_dir / "coverage.json"
    cached = read_json(cache_path) or {}
    wanted = [(d, s) for d in spec.axes.train_size for s in spec.axes.seed]
    missing = [key for key in wanted if f"{key[0]}:{key[1]}" not in cached]
    if missing:
        from scaling.data.coverage import subset_coverage
        from scaling.data.store import GraphStore
        from scaling.data.subsets import load_split, training_subset

        graph_store = GraphStore(store)
        split = load_split(graph_store, val_fraction=spec.split.val_fraction,
                           test_fraction=spec.test_fraction(), seed=spec.split.seed)
        for size, seed in missing:
            indices = training_subset(graph_store, size, seed, sampler=spec.split.sampler, split=split)
            cached[f"{size}:{seed}"] = float(subset_coverage(graph_store, indices))
        atomic_write_json(cache_path, cached)
    return {key: cached[f"{key[0]}:{key[1]}"] for key in wanted if f"{key[0]}:{key[1]}" in cached}
