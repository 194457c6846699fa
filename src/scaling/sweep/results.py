"""What counts as a cell's result: result.json validated against a schema, not just `"status": "done"`.

A result is done only when every field of the tidy row (docs/sweeps.md) is there with its type (a torn file, `{"status": "done"}`
alone or a string where a number belongs is not a result); status, collect and the runner all ask this module, so
they agree. Fields beyond the schema (added by later stages) are kept as they are.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError, model_validator

Number = StrictFloat | StrictInt


class CellResult(BaseModel):
    """The fields scaling.train.run_training writes and the tidy table reads (units: eV/atom, eV/A, GPa)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["done", "failed"]
    reason: StrictStr | None = None
    n_params: StrictInt = Field(gt=0)
    train_size: StrictInt = Field(gt=0)
    epochs: StrictInt = Field(ge=0)
    best_epoch: StrictInt | None
    val_loss: Number | None
    test_energy_mae: Number | None
    test_force_mae: Number | None
    test_stress_mae: Number | None
    width: StrictInt | None = None
    depth: StrictInt | None = None
    train_seconds: Number | None = None
    device: StrictStr | None = None

    @model_validator(mode="after")
    def _done_has_metrics(self) -> "CellResult":
        if self.status == "done":
            if self.val_loss is None or not math.isfinite(self.val_loss):
                raise ValueError("a done result needs a finite val_loss")
            if self.test_energy_mae is None or self.epochs < 1:
                raise ValueError("a done result needs test_energy_mae and at least one epoch")
        return self


def read_result(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the result, None) when path holds a valid result; (None, why not) otherwise; (None, None) when absent."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, None
    except OSError as error:
        return None, f"{path.name} unreadable ({error.strerror})"
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, f"{path.name} is not JSON (torn or overwritten)"
    try:
        CellResult.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        return None, f"{path.name} invalid: {where}: {first['msg']}"
    return data, None
