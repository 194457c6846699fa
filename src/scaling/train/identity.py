"""A run is a function of its settings: what of a TrainConfig makes a run's identity, and the check that a run
folder is reused only with the settings that made it.

Every TrainConfig field counts, except the execution knobs in EXECUTION_FIELDS (where and how fast it runs, not
what it computes). A graph store counts by its content (source file hash, cutoff, counts), not its path, so a run
folder can be moved or reached by another path and still resume.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from scaling.errors import InputError
from scaling.train.config import TrainConfig

# `devices` is not here: a K-process run equals the 1-process run to float tolerance, not bitwise, so a run folder
# made with one K is not resumed with another. `prefetch` and `data_on_device`
# only decide when and where the same batches are assembled.
EXECUTION_FIELDS = frozenset({"device", "threads", "checkpoint_every_steps", "prefetch", "data_on_device"})
STORE_FIELDS = ("store", "test_store")
CONFIG_FILE = "config.json"
DATA_KEY = "data_identity"  # config.json's one key beside the TrainConfig fields


def store_identity(store: str | None) -> dict[str, Any] | None:
    """What a graph store holds, in a few numbers (None without a store: data given in memory)."""
    if store is None:
        return None
    from scaling.data.store import read_manifest

    manifest = read_manifest(store)
    keys = ("source_sha256", "cutoff", "n_structures", "n_atoms", "n_edges")
    return {key: manifest.get(key) for key in keys}


def config_record(config: TrainConfig) -> dict[str, Any]:
    """config.json: the TrainConfig fields, plus the identity of the stores they name."""
    return {**config.to_dict(), DATA_KEY: {name: store_identity(getattr(config, name)) for name in STORE_FIELDS}}


def identity(record: dict[str, Any], stores_by_path: bool = False) -> dict[str, Any]:
    """The fields that decide a run's result; fields a record lacks (it predates them) take their defaults.
    `stores_by_path`: stores as resolved paths (for a config.json older than the store identities)."""
    out = {}
    for field in fields(TrainConfig):
        if field.name in EXECUTION_FIELDS or field.name in STORE_FIELDS:
            continue
        default = field.default_factory() if field.default is MISSING else field.default
        out[field.name] = record.get(field.name, default)
    if stores_by_path:
        out.update({name: record.get(name) and str(Path(record[name]).resolve()) for name in STORE_FIELDS})
    else:
        out.update({name: (record.get(DATA_KEY) or {}).get(name) for name in STORE_FIELDS})
    return out


def _shown(value: Any) -> str:
    if isinstance(value, dict):  # a store identity: its counts and source hash, in short
        sha = value.get("source_sha256")
        return (f"[{value.get('n_structures')} structures, cutoff {value.get('cutoff')}"
                f"{', source sha256 ' + sha[:12] if sha else ''}]")
    return json.dumps(value)


def recorded_config(run_dir: Path) -> dict[str, Any] | None:
    """The settings a run folder was made with: config.json, else the checkpoint's copy; None for a new folder."""
    path = run_dir / CONFIG_FILE
    if path.is_file():
        try:
            record = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: not valid JSON ({error}); cannot tell which settings made this run") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: not a settings mapping; cannot tell which settings made this run")
        return record
    saved = run_dir / "checkpoint.pt"
    if saved.is_file():
        from scaling.train.checkpoint import load

        return load(saved, require=("train_config",))["train_config"]
    if (run_dir / "result.json").exists():
        raise InputError(f"{run_dir}: holds a result.json but no {CONFIG_FILE}: cannot tell which settings made it")
    return None


def check_same_run(config: TrainConfig, run_dir: Path) -> None:
    """Refuse (InputError, exit 2) to resume or report a run made with other settings, naming each difference."""
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir}: exists and is not a folder (a run folder is written there)")
    if not run_dir.is_dir():
        return
    recorded = recorded_config(run_dir)
    if recorded is None:
        return
    by_path = DATA_KEY not in recorded
    old = identity(recorded, by_path)
    new = identity(config.to_dict() if by_path else config_record(config), by_path)
    differences = [f"{name} {_shown(old[name])} -> {_shown(new[name])}" for name in new if old[name] != new[name]]
    if differences:
        raise InputError(f"{run_dir}: holds a run with other settings ({'; '.join(differences)}); use another "
                         "--out, or the same settings to resume it")
