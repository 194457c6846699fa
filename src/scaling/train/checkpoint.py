"""Checkpoints: written atomically (temp file + rename), holding everything an exact resume needs."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from scaling.atomic import atomic_write_bytes


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | Path, payload: dict) -> None:
    """torch.save into memory, then one atomic write: a reader sees the old checkpoint or the whole new one."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Our own files only (they hold numpy RNG state, so weights_only loading cannot read them)."""
    return torch.load(path, map_location=device, weights_only=False)


def completed_epochs(path: str | Path) -> int:
    """Epochs a checkpoint holds (0 without one): where a resume starts. Metric lines may run one epoch ahead,
    because an epoch's line is written just before its checkpoint; a resume drops them."""
    path = Path(path)
    return int(load(path)["progress"]["epoch"]) if path.is_file() else 0
