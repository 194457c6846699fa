"""Where the shared reference data lives: $SCALING_REFERENCE_DATA, else ../shared/reference-data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def reference_data_dir() -> Path | None:
    """The reference-data folder, or None where it is absent (a user's clone without ../shared)."""
    env = os.environ.get("SCALING_REFERENCE_DATA")
    folder = Path(env) if env else _CHECKOUT.parent / "shared" / "reference-data"
    return folder if folder.is_dir() else None
