"""TrainConfig: every knob of one training run (a run is a function of its config)."""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_type_hints

from scaling.errors import InputError


@dataclass
class TrainConfig:
    """Settings of one run. Units: lr per step; cutoffs in A; loss weights multiply per-atom energy (eV/atom)^2,
    force (eV/A)^2 and stress (GPa)^2 terms (or their Huber forms)."""

    # data
    store: str | None = None  # GraphStore directory (scaling data build)
    train_size: int | None = None  # D: structures in the training subset (None = the whole training split)
    subset_seed: int | None = None  # seed of the nested training subset (None = seed)
    sampler: str = "random"  # subset sampler registered in scaling.data.subsets
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0  # the fixed validation/test split (shared by every run of a sweep)
    test_store: str | None = None  # optional separate test set (e.g. mlearn's own test file); then test_fraction=0
    # model
    arch: str = "twobody"  # a registered architecture: built-in, module:builder, or entry point (models/registry.py)
    arch_options: dict[str, Any] = field(default_factory=dict)  # the builder's options (plain data)
    params: int | None = None  # target parameter count; width (and depth if fit_depth) chosen to hit it
    width: int | None = None  # explicit width (when params is None)
    depth: int = 3
    fit_depth: bool = False
    cutoff: float | None = None  # None = the store's cutoff
    threebody_cutoff: float = 3.5
    n_radial: int = 8
    radial_hidden: int = 32
    n_angular: int = 4
    # optimisation
    seed: int = 0
    batch_size: int = 16
    eval_batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-5
    scheduler: Literal["cosine", "plateau"] = "cosine"
    warmup_steps: int = 50
    min_lr_ratio: float = 0.01
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    grad_clip: float = 10.0
    loss: Literal["mse", "huber"] = "mse"
    huber_delta: float = 0.01
    energy_weight: float = 1.0
    force_weight: float = 1.0
    stress_weight: float = 0.01
    # budget and stopping
    max_epochs: int = 100
    epoch_steps: int | None = None  # steps per epoch (the evaluation interval), from endless shuffled passes; None = 1 pass
    max_steps: int | None = None
    max_seconds: float | None = None  # wall-clock training budget (checked between steps)
    max_cpu_seconds: float | None = None  # CPU-time budget of this process (all threads), for shared machines
    patience: int = 20  # early stopping: epochs without a better validation loss
    # machinery
    checkpoint_every_steps: int = 200
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = None  # torch CPU threads (None = torch's default)
    devices: int = 1  # data-parallel processes (torch.distributed); the global batch stays batch_size
    prefetch: int = 2  # batches assembled ahead by a background thread (0 = assembled in the step)
    data_on_device: bool = False  # hold the training subset on the device, gather each batch there (when it fits)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise InputError (one line naming the field and value) on an impossible setting."""
        def bad(name, why):
            raise InputError(f"train config: field {name}={getattr(self, name)!r}: {why}", field=name,
                             value=getattr(self, name), why=why)

        self._check_types(bad)
        if not isinstance(self.arch, str) or not self.arch.strip():
            from scaling.models.registry import BUILTIN

            bad("arch", f"must name an architecture ({', '.join(BUILTIN)}, module:builder or an entry point)")
        if not isinstance(self.arch_options, dict) or not all(isinstance(k, str) for k in self.arch_options):
            bad("arch_options", "must be a mapping of option names to values")
        if self.params is None and self.width is None:
            bad("params", "give params (a target count) or width")
        if self.params is not None and self.width is not None:
            bad("width", f"give params (a target count, here {self.params}) or width, not both")
        for name in ("params", "width", "train_size", "max_steps", "epoch_steps", "threads", "cutoff", "max_seconds",
                     "max_cpu_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                bad(name, "must be positive")
        for name in ("depth", "batch_size", "eval_batch_size", "max_epochs", "patience", "checkpoint_every_steps",
                     "n_radial", "radial_hidden", "n_angular", "lr", "grad_clip", "huber_delta",
                     "threebody_cutoff", "plateau_factor"):
            if getattr(self, name) <= 0:
                bad(name, "must be positive")
        if self.devices <= 0:
            bad("devices", "must be positive")
        if self.devices > self.batch_size:
            bad("devices", f"must be at most batch_size ({self.batch_size}): each process takes a share of a batch")
        if self.prefetch < 0:
            bad("prefetch", "must be >= 0")
        for name in ("seed", "split_seed", "subset_seed", "plateau_patience", "min_lr_ratio"):
            value = getattr(self, name)
            if value is not None and value < 0:
                bad(name, "must be >= 0")
        for name in ("val_fraction", "test_fraction"):
            if not 0 <= getattr(self, name) < 1:
                bad(name, "must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1:
            bad("val_fraction", f"val_fraction + test_fraction ({self.test_fraction}) must leave training data")
        if self.min_lr_ratio > 1:
            bad("min_lr_ratio", "must be at most 1")
        if self.plateau_factor >= 1:
            bad("plateau_factor", "must be below 1")
        if self.scheduler not in ("cosine", "plateau"):
            bad("scheduler", "must be cosine or plateau")
        if self.loss not in ("mse", "huber"):
            bad("loss", "must be mse or huber")
        if self.device not in ("auto", "cpu", "cuda"):
            bad("device", "must be auto, cpu or cuda")
        for name in ("energy_weight", "force_weight", "stress_weight", "weight_decay", "warmup_steps"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0")

    def _check_types(self, bad) -> None:
        """Each field strictly of its annotated type (pydantic strict mode: no '10' for 10, no 2.5 or true for an
        int), and every number finite (an inf learning rate or a NaN clip norm is no setting)."""
        from pydantic import ValidationError

        for name, hint in _field_types().items():
            value = getattr(self, name)
            try:
                value = _adapter(hint).validate_python(value, strict=True)
            except ValidationError as error:
                tip = " (YAML reads a number like 1e-3 as text: write 1.0e-3)" if _is_number(value) else ""
                bad(name, error.errors()[0]["msg"].lower() + tip)
            if isinstance(value, float) and not math.isfinite(value):
                bad(name, "must be a finite number")
            setattr(self, name, value)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "train config") -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**values)


@functools.cache
def _field_types() -> dict[str, Any]:
    return {f.name: get_type_hints(TrainConfig)[f.name] for f in fields(TrainConfig)}


@functools.cache
def _adapter(hint):
    from pydantic import TypeAdapter

    return TypeAdapter(hint)


def _is_number(value: Any) -> bool:
    """A string that reads as a number (what YAML 1.1 leaves as text, e.g. 1e-3)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)
