"""Repair a cell's own files before an attempt, so a fault stays in the cell it hit and never repeats.

A file that cannot be used (a checkpoint that does not load, a result.json that does not validate, metric lines
that are not JSON) is moved aside under a dated name (kept for inspection, never deleted) and the attempt goes on
from what is left: the last readable checkpoint, or a fresh start; an unreadable result is re-finished from the
checkpoint and best.pt (evaluated again, not retrained). Each repair is returned for the cell's attempts.jsonl.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from scaling.atomic import atomic_write_text
from scaling.sweep.results import read_result

CHECKPOINT_KEYS = ("model", "model_config", "optimizer", "warmup", "rng", "progress")


def set_aside(path: Path, tag: str) -> Path:
    """Rename `path` to `<stem>.<tag>-<UTC time>[-k]<suffix>` beside it; returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for k in range(1000):
        target = path.with_name(f"{path.stem}.{tag}-{stamp}{f'-{k}' if k else ''}{path.suffix}")
        if not target.exists():
            path.rename(target)
            return target
    raise FileExistsError(f"{path}: no free name to set it aside")


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint at path cannot be resumed from (None when it can); any error reading it counts."""
    from scaling.train import checkpoint

    try:
        saved = checkpoint.load(path)
    except Exception as error:  # corrupt, truncated, refused by the safe loader: all mean "cannot resume"
        return f"unreadable: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
    if not isinstance(saved, dict) or any(key not in saved for key in CHECKPOINT_KEYS):
        return "not a training checkpoint (keys missing)"
    epoch = saved["progress"].get("epoch") if isinstance(saved["progress"], dict) else None
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        return f"progress.epoch is {epoch!r}"
    return None


def _metric_lines(text: str) -> tuple[list[str], int]:
    """The lines that are JSON objects with an integer epoch, and the count of the others."""
    kept, dropped = [], 0
    for line in text.splitlines():
        try:
            record = json.loads(line)
            ok = isinstance(record, dict) and isinstance(record.get("epoch"), int)
        except (json.JSONDecodeError, ValueError):
            ok = False
        if ok:
            kept.append(line)
        elif line.strip():
            dropped += 1
    return kept, dropped


def repair_cell_files(cell_dir: Path) -> list[dict[str, Any]]:
    """Move aside what this cell cannot use; returns one record per repair ({file, kept_as, reason})."""
    repairs: list[dict[str, Any]] = []

    def move(name: str, tag: str, reason: str) -> None:
        kept = set_aside(cell_dir / name, tag)
        repairs.append({"file": name, "kept_as": kept.name, "reason": reason})

    result, problem = read_result(cell_dir / "result.json")
    if problem is not None:
        move("result.json", "invalid", f"{problem}; re-finished from the checkpoint and best.pt")
    for name in ("checkpoint.pt", "best.pt"):
        if (cell_dir / name).is_file():
            problem = checkpoint_problem(cell_dir / name) if name == "checkpoint.pt" else _best_problem(cell_dir / name)
            if problem is not None:
                move(name, "corrupt", f"{name} {problem}; training restarts from scratch")
    if any(r["file"] == "best.pt" for r in repairs) and (cell_dir / "checkpoint.pt").is_file():
        move("checkpoint.pt", "orphaned", "its best weights (best.pt) are lost; training restarts from scratch")
    metrics = cell_dir / "metrics.jsonl"
    if metrics.is_file():
        text = metrics.read_text(errors="replace")
        kept, dropped = _metric_lines(text)
        if dropped:
            kept_as = set_aside(metrics, "invalid")
            atomic_write_text(metrics, "".join(line + "\n" for line in kept))
            repairs.append({"file": "metrics.jsonl", "kept_as": kept_as.name,
                            "reason": f"{dropped} line(s) not JSON metric records dropped"})
    return repairs


def _best_problem(path: Path) -> str | None:
    from scaling.train import checkpoint

    try:
        saved = checkpoint.load(path)
    except Exception as error:
        return f"unreadable: {type(error).__name__}"
    return None if isinstance(saved, dict) and "model" in saved else "not a model file (no `model`)"
