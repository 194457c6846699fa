"""Checkpoints: written atomically (temp file + rename), holding everything an exact resume needs.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so it is read with `weights_only=True`: a file
from elsewhere can hold no code that runs when it is opened (a pickle's `__reduce__` is refused, not called).
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import numpy as np
import torch

from scaling.atomic import atomic_write_bytes
from scaling.errors import CheckpointError

RESUME_KEYS = ("model", "model_config", "optimizer", "warmup", "plateau", "rng", "progress")


def rng_state() -> dict:
    """Every global RNG as plain data: numpy's MT19937 keys and Python's state become int64 tensors and lists."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Set every global RNG from rng_state()'s dict (its tensors may have been loaded onto a GPU: moved back)."""
    torch.set_rng_state(state["torch"].cpu())
    numpy = state["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].cpu().numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save(path: str | Path, payload: dict) -> None:
    """torch.save into memory, then one atomic write: a reader sees the old checkpoint or the whole new one."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load(path: str | Path, device: str | torch.device = "cpu", require: tuple[str, ...] = ()) -> dict:
    """A checkpoint's dict, read with weights_only=True (no code in the file runs); CheckpointError (one line naming
    the file) when it is missing, foreign, torn, from an older format, or lacks one of the `require`d keys."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise CheckpointError(f"{path}: not a regular file, so not a checkpoint")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except OSError:
        raise  # the environment (permissions, I/O): the CLI reports it in one line, exit 1
    except Exception as error:  # refused globals (foreign code or an older format), torn or garbage files
        raise CheckpointError(f"{path}: not a readable checkpoint: {_reason(error)}") from None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: not a scaling checkpoint (holds a {type(saved).__name__}, not a dict)")
    missing = [key for key in require if key not in saved]
    if missing:
        raise CheckpointError(f"{path}: not a scaling checkpoint (no {', '.join(missing)})")
    return saved


def _reason(error: Exception) -> str:
    """One line for why torch.load refused a file (never torch's advice to retry with weights_only=False)."""
    text = str(error)
    refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if refused or "weights_only" in text.lower() or "Weights only" in text:
        what = f" ({refused.group(1)})" if refused else ""
        return (f"it holds an object other than tensors, numbers, strings, lists and dicts{what}: foreign code or "
                "a checkpoint written by an older scaling version; nothing in it was run")
    return (text.strip().splitlines() or [type(error).__name__])[0][:200]


def completed_epochs(path: str | Path) -> int:
    """Epochs a checkpoint holds (0 without one): where a resume starts. Metric lines may run one epoch ahead,
    because an epoch's line is written just before its checkpoint; a resume drops them."""
    path = Path(path)
    return int(load(path, require=("progress",))["progress"]["epoch"]) if path.is_file() else 0
