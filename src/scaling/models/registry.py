"""The architecture registry: a name -> the builder of an energy network.

A builder is `build(width: int, elements: tuple[int, ...], cutoff: float, **options) -> torch.nn.Module`; the
module's `forward(z, vectors, edge_index, **graph)` returns one energy per atom ([n_atoms]), which the shared
wrapper (`scaling.models.potential.Potential`) scales, offsets by per-element reference energies, sums and
differentiates for forces and stress. `width` is the knob the sizer searches; `options` come from the spec or
`--arch-option` and are recorded (defaults filled in) in every checkpoint, so a calculator rebuilds the same model.

Names are resolved in this order: a built-in (`BUILTIN`), a `module:attribute` path (a plugin on the Python path),
an entry point of the group `scaling.architectures` (a plugin declared by an installed package).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from scaling.errors import InputError
from scaling.models.builtin import MACE_INSTALL_HINT

ENTRY_POINT_GROUP = "scaling.architectures"
# The one list of built-in architectures: name -> "module:builder". The builders' module imports no torch (the
# networks are imported when built), so resolving a built-in, e.g. to validate a sweep spec, does not import torch.
BUILTIN = {
    "twobody": "scaling.models.builtin:build_twobody",
    "threebody": "scaling.models.builtin:build_threebody",
    "mace": "scaling.models.builtin:build_mace",
}
# Built-ins whose network needs an optional package: name -> (top-level package, what to tell the user).
REQUIRES = {"mace": ("mace", MACE_INSTALL_HINT)}
# TrainConfig fields that the in-house builders take as options (so `--depth` etc. keep working for them).
IN_HOUSE = ("twobody", "threebody")
IN_HOUSE_TRAIN_FIELDS = ("depth", "n_radial", "radial_hidden", "threebody_cutoff", "n_angular")


@dataclass(frozen=True)
class Architecture:
    """A resolved architecture: its name as written, where the builder came from, and the builder."""

    name: str
    source: str  # "builtin", "path" or "entry point <value>"
    build: Callable[..., Any]

    def complete_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """`options` checked against the builder's signature, with its defaults filled in (plain JSON data)."""
        check_options(self.name, options)
        signature = inspect.signature(self.build)
        try:
            bound = signature.bind(1, (), 1.0, **options)
        except TypeError as error:
            raise _refused(self.name, f"options {json.dumps(options)}: {error}") from None
        bound.apply_defaults()
        complete = {}
        for name, parameter in list(signature.parameters.items())[3:]:
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                complete.update(bound.arguments.get(name, {}))
            elif name in bound.arguments and _is_plain(bound.arguments[name]):
                complete[name] = bound.arguments[name]
        return dict(sorted(complete.items()))


def _refused(name: Any, why: str) -> InputError:
    """The one-line error `arch NAME: WHY`, with field, value and why structured for callers that re-word it."""
    return InputError(f"arch {name!r}: {why}", field="arch", value=name, why=why)


def _is_plain(value: Any) -> bool:
    """JSON data that survives a round trip unchanged (what a checkpoint's model_config may hold)."""
    try:
        return json.loads(json.dumps(value)) == value and not isinstance(value, tuple)
    except (TypeError, ValueError):
        return False


def check_options(name: str, options: Any) -> None:
    """Options must be a mapping of names to plain JSON values (str, int, float, bool, None, list, dict)."""
    if not isinstance(options, dict) or not all(isinstance(key, str) for key in options):
        raise _refused(name, f"options must be a mapping of names to values, got {options!r}")
    for key, value in options.items():
        if not _is_plain(value):
            raise _refused(name, f"option {key}={value!r} is not plain data (number, string, list, map)")


def _import(name: str, path: str) -> Callable[..., Any]:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        reason = f"{type(error).__name__}: {error}"
        raise _refused(name, f"cannot import module {module_name!r} ({reason})") from None
    build = module
    for part in attribute.split("."):
        build = getattr(build, part, None)
        if build is None:
            raise _refused(name, f"module {module_name!r} has no attribute {attribute!r}")
    if not callable(build):
        raise _refused(name, f"{path} is not callable")
    return build


def _entry_point(name: str) -> metadata.EntryPoint | None:
    matches = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    return matches[0] if matches else None


def resolve(name: str) -> Architecture:
    """The architecture called `name`; InputError (one line, exit 2) when it is unknown or cannot be imported."""
    if not isinstance(name, str) or not name.strip():
        raise _refused(name, f"give a built-in ({', '.join(BUILTIN)}), module:builder or an entry point")
    if name in BUILTIN:
        package, hint = REQUIRES.get(name, (None, None))
        if package is not None and importlib.util.find_spec(package) is None:  # looks without importing it
            raise _refused(name, hint)
        return Architecture(name, "builtin", _import(name, BUILTIN[name]))
    if ":" in name:
        return Architecture(name, "path", _import(name, name))
    entry = _entry_point(name)
    if entry is not None:
        try:
            build = entry.load()
        except Exception as error:  # a plugin's import may fail in any way; it is the user's input
            reason = f"{type(error).__name__}: {error}"
            raise _refused(name, f"entry point {entry.value!r} failed to load ({reason})") from None
        return Architecture(name, f"entry point {entry.value}", build)
    raise _refused(
        name, f"not a built-in ({', '.join(BUILTIN)}), not module:builder, and no entry point of group "
        f"{ENTRY_POINT_GROUP!r} has that name"
    )


def available() -> list[str]:
    """Built-in names and the names of installed entry points (without importing them)."""
    return list(BUILTIN) + sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)} - set(BUILTIN))
