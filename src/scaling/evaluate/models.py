"""What `scaling evaluate MODEL` evaluates: a checkpoint, a run or cell folder, or an ASE calculator factory.

A factory is named `module:attribute` (e.g. `ase.calculators.emt:EMT`) and found by import plus attribute lookup,
never by evaluating the string. A checkpoint is first opened with torch's weights-only loader, so a file that
would need to unpickle arbitrary objects is refused before the calculator reads it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from scaling.errors import InputError

_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass
class Model:
    """A calculator source: `calculator()` gives an ASE calculator; `elements` are the ones it knows (None: any)."""

    name: str
    calculator: Callable[[], Any]
    elements: tuple[str, ...] | None


def factory_model(spec: str) -> Model:
    """`module:callable` -> a Model whose calculator() calls the callable with no arguments."""
    if not _FACTORY.match(spec):
        raise InputError(f"--calculator: expected module:callable (e.g. ase.calculators.emt:EMT), got {spec!r}")
    module_name, attribute = spec.split(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise InputError(f"--calculator {spec}: cannot import module {module_name!r} ({error})") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise InputError(f"--calculator {spec}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise InputError(f"--calculator {spec}: {attribute!r} is not callable")
    return Model(name=spec, calculator=target, elements=None)


def checkpoint_path(path: str | Path) -> Path:
    """best.pt itself, or the best.pt inside a run or cell folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint (give best.pt, a run or cell folder, or --calculator)")
    return path


def checkpoint_model(path: str | Path, device: str = "cpu") -> Model:
    """A trained potential as a Model; one ScalingCalculator shared by every structure (ASE calculators may be)."""
    import torch
    from ase.data import chemical_symbols

    path = checkpoint_path(path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        elements = tuple(chemical_symbols[int(z)] for z in saved["model_config"]["elements"])
    except Exception as error:  # any unreadable or untrusted file is bad input, named
        raise InputError(f"{path}: not a scaling checkpoint ({type(error).__name__}: {str(error)[:120]})") from None
    shared: list[Any] = []

    def calculator():
        if not shared:
            from scaling.calculator import ScalingCalculator

            shared.append(ScalingCalculator(path, device=device, dtype="float64"))
        return shared[0]

    return Model(name=str(path), calculator=calculator, elements=elements)


def resolve_model(model: str | None, calculator: str | None, device: str = "cpu") -> Model:
    if (model is None) == (calculator is None):
        raise InputError("give exactly one of MODEL (checkpoint, run or cell folder) or --calculator module:callable")
    return factory_model(calculator) if calculator else checkpoint_model(model, device)
