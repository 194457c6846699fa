"""The evaluation stage of a sweep cell: after training, before the cell counts as done; resumable.

Protocol (the files live in the cell's folder):
1. Before training, the cell writes `evaluation.todo` (the suite's settings) when its spec has `evaluation:` and
   no evaluation.json of those settings exists; while that file exists the cell is not done (RunFolder.is_done,
   status), even though scaling.train has written result.json.
2. After training, `evaluate_cell` runs the suite on best.pt and writes `evaluation.json` (atomic), then merges
   its metrics into result.json under "evaluation", then removes evaluation.todo.
A kill during evaluation leaves evaluation.todo and result.json (training done): the next run's run_training returns
the saved result at once (no retraining) and the suite runs again; a kill after evaluation.json was written only
repeats the merge.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from scaling.atomic import atomic_write_json

log = logging.getLogger(__name__)

TODO_FILE = "evaluation.todo"
EVALUATION_FILE = "evaluation.json"


def _read(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def pending(cell_dir: Path) -> bool:
    """True while the cell's evaluation stage has not finished (training alone does not make the cell done)."""
    return (Path(cell_dir) / TODO_FILE).exists()


def mark_pending(cell_dir: Path, suite) -> None:
    """Step 1: record that this cell owes an evaluation (unless evaluation.json of these settings exists)."""
    from scaling.evaluate.suite import suite_settings

    settings = suite_settings(suite)
    done = _read(Path(cell_dir) / EVALUATION_FILE)
    result = _read(Path(cell_dir) / "result.json") or {}
    if done and done.get("settings") == settings and "evaluation" in result:
        return
    atomic_write_json(Path(cell_dir) / TODO_FILE, {"settings": settings})


def evaluate_cell(cell_dir: Path, suite, device: str = "cpu") -> dict[str, Any]:
    """Step 2: run the suite on the cell's best.pt (unless evaluation.json already holds it), merge, finish."""
    from scaling.evaluate.models import checkpoint_model
    from scaling.evaluate.runner import run_suite
    from scaling.evaluate.suite import suite_settings

    cell_dir = Path(cell_dir)
    document = _read(cell_dir / EVALUATION_FILE)
    if not document or document.get("settings") != suite_settings(suite):
        log.info("evaluating %s with the %s suite", cell_dir.name, suite.name)
        document = run_suite(checkpoint_model(cell_dir / "best.pt", device=device), suite)
        document["model"] = "best.pt"
        atomic_write_json(cell_dir / EVALUATION_FILE, document)
    result = _read(cell_dir / "result.json") or {}
    result["evaluation"] = {"suite": document["suite"], "seconds": document["seconds"],
                            "metrics": document["metrics"]}
    atomic_write_json(cell_dir / "result.json", result)
    (cell_dir / TODO_FILE).unlink(missing_ok=True)
    return result
