"""The sweep specification (YAML): dataset, axes, training budget and executor, validated with pydantic.

A spec is expanded into cells (one per point of the grid arch x params x train_size x seed). Everything except the
executor and the axes is shared by every cell and becomes part of each cell's identity (its hash), so a changed
dataset, split or budget can never be mixed silently with results trained under the old one.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
import itertools
import re
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from scaling.errors import InputError

# An entry of the `arch` axis: a registered name (twobody, threebody, mace, module:builder or an entry point), or a
# mapping {name: NAME, OPTION: VALUE, ...} giving that architecture's builder options (docs/models.md).
ArchEntry = str | dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmtDataset(_Strict):
    """The embedded EMT-labelled alloy pool: `n` structures generated with `seed`."""

    n: Annotated[int, Field(gt=0)]
    seed: int = 0
    elements: tuple[str, ...] | None = None


class DatasetSpec(_Strict):
    """Either an EMT spec or a path to a structure file (anything `scaling data build` reads) or to a graph store
    (`scaling data build`'s output). `test_path` (a file or a store) holds the test set: then the split makes only
    the validation set (`split.test_fraction` is not used)."""

    emt: EmtDataset | None = None
    path: str | None = None
    test_path: str | None = None
    cutoff: Annotated[float, Field(gt=0)] = 5.0

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetSpec":
        if (self.emt is None) == (self.path is None):
            raise ValueError("give exactly one of `emt` or `path`")
        return self

    def settings(self) -> dict[str, Any]:
        """The dataset's part of every cell's identity; `test_path` only when given, so cells of specs without it
        keep the folder names (hashes) they always had."""
        settings = self.model_dump(mode="json")
        if settings["test_path"] is None:
            del settings["test_path"]
        return settings


class SplitSpec(_Strict):
    """The fixed held-out data shared by every cell (fractions of the pool, whole trajectories kept on one side),
    and the sampler that draws the nested training subsets (`scaling.data.subsets`)."""

    val_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.1
    test_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.1
    seed: int = 0
    sampler: Literal["random", "coverage"] = "random"


class Axes(_Strict):
    """The grid: every combination of these values is one cell."""

    train_size: tuple[Annotated[int, Field(gt=0)], ...]
    params: tuple[Annotated[int, Field(gt=0)], ...]
    arch: tuple[ArchEntry, ...] = ("twobody",)
    seed: tuple[int, ...] = (0,)

    @field_validator("arch", mode="before")
    @classmethod
    def _arch_entries(cls, values: Any) -> Any:
        return tuple(arch_entry(value) for value in values) if isinstance(values, (list, tuple)) else values

    @field_validator("train_size", "params", "arch", "seed")
    @classmethod
    def _non_empty_unique(cls, values: tuple) -> tuple:
        if not values:
            raise ValueError("needs at least one value")
        keys = [json.dumps(value, sort_keys=True) for value in values]
        if len(set(keys)) != len(keys):
            raise ValueError(f"has repeated values {list(values)}")
        return values

    @field_validator("arch")
    @classmethod
    def _arch_importable(cls, values: tuple, info: ValidationInfo) -> tuple:
        if (info.context or {}).get("frozen"):
            return values  # checked when it was frozen; status and collect need no plugin imports
        from scaling.models import registry

        for index, value in enumerate(values):
            name, options = split_arch(value)
            try:
                registry.resolve(name).complete_options(options)
            except InputError as error:  # the registry's errors carry their reason structured (`why`)
                raise ValueError(f"field `axes.arch.{index}` = {json.dumps(value)}: {error.why}") from None
        return values


# TrainConfig fields the sweep sets itself (from the dataset, split, axes and executor), so a spec may not.
SWEEP_OWNED_TRAIN_FIELDS = frozenset(
    {"store", "train_size", "subset_seed", "sampler", "val_fraction", "test_fraction", "split_seed", "arch",
     "params", "seed", "device", "threads", "test_store", "arch_options"}
)


def arch_entry(value: Any) -> Any:
    """An `arch` axis entry in its canonical form: a name, or {name, options...} with the options sorted."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        options = {key: value[key] for key in sorted(value) if key != "name"}
        return {"name": value["name"], **options} if options else value["name"]
    if isinstance(value, dict):
        raise ValueError(f"field `axes.arch`: entry {json.dumps(value, default=str)} needs a `name`")
    return value


def split_arch(entry: ArchEntry) -> tuple[str, dict[str, Any]]:
    """(name, options) of an `arch` axis entry."""
    if isinstance(entry, str):
        return entry, {}
    return entry["name"], {key: value for key, value in entry.items() if key != "name"}


def check_training(training: dict[str, Any]) -> dict[str, Any]:
    """Validate the `training` mapping against `scaling.train.TrainConfig`: its fields, their types (strictly: no
    2.5 or `true` for an integer) and its ranges. Field and value come from structured errors, not message text."""
    from dataclasses import fields
    from typing import get_type_hints

    from pydantic import TypeAdapter

    from scaling.train.config import TrainConfig

    known = {f.name for f in fields(TrainConfig)} - SWEEP_OWNED_TRAIN_FIELDS
    types = get_type_hints(TrainConfig)
    for key, value in training.items():
        if key in SWEEP_OWNED_TRAIN_FIELDS:
            raise ValueError(f"field `training.{key}`: set by the sweep (dataset, split, axes or executor), not here")
        if key not in known:
            raise ValueError(f"field `training.{key}`: unknown (known: {', '.join(sorted(known))})")
        try:
            TypeAdapter(types[key]).validate_python(value, strict=True)
        except ValidationError as error:
            hint = " (YAML reads 1e-3 as text: write 1.0e-3)" if isinstance(value, str) else ""
            raise ValueError(f"field `training.{key}` = {json.dumps(value, default=str)}: "
                             f"{error.errors()[0]['msg']}{hint}") from None
    try:
        TrainConfig.from_dict({"params": 1000, **training}, source="training")
    except InputError as error:
        field, value = getattr(error, "field", None), getattr(error, "value", None)
        if field is not None:
            raise ValueError(f"field `training.{field}` = {json.dumps(value, default=str)}: {error.why}") from None
        raise ValueError(f"field `training`: {error}") from None
    return training


class LocalExecutorSpec(_Strict):
    """Worker processes on this machine; `max_parallel` cells at once (default: the number of cores).
    `memory_budget_mb`: the device's memory (host RAM on cpu, the GPU's on cuda) that running cells may hold
    together, by the planner's estimates (scaling.sweep.memory); None: no budget."""

    max_parallel: Annotated[int, Field(gt=0)] | None = None
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    memory_budget_mb: Annotated[float, Field(gt=0)] | None = None


class SlurmExecutorSpec(_Strict):
    """submitit on SLURM: a job array, `cells_per_job` cells packed into each array task, of which up to
    `cells_per_gpu` run at once as separate processes sharing the task's one GPU (or, with gpus: 0, its allocation)."""

    partition: str | None = None
    account: str | None = None
    gpus: Annotated[int, Field(ge=0)] = 0
    cpus: Annotated[int, Field(gt=0)] = 1
    memory_gb: Annotated[float, Field(gt=0)] | None = None
    time_min: Annotated[int, Field(gt=0)] = 60
    array_parallelism: Annotated[int, Field(gt=0)] = 64
    cells_per_job: Annotated[int, Field(gt=0)] = 1
    cells_per_gpu: Annotated[int, Field(gt=0)] = 1
    nodes: Annotated[int, Field(gt=0)] = 1  # nodes per job: a cell's `training.devices` tasks are spread over them
    max_requeues: Annotated[int, Field(ge=0)] = 5
    signal_delay_s: Annotated[int, Field(ge=0)] = 120
    extra_sbatch: dict[str, str | int | float | bool] = Field(default_factory=dict)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _packing(self) -> "SlurmExecutorSpec":
        if self.cells_per_gpu > self.cells_per_job:
            raise ValueError(f"field `executor.slurm.cells_per_gpu` = {self.cells_per_gpu}: more than cells_per_job = "
                             f"{self.cells_per_job} (a task runs only its own cells; raise cells_per_job)")
        if self.cells_per_gpu > 1 and self.gpus > 1:
            raise ValueError(f"field `executor.slurm.cells_per_gpu` = {self.cells_per_gpu}: packing needs gpus <= 1 "
                             f"(got gpus = {self.gpus}); packed cells share one device")
        return self


class AnalysisSpec(_Strict):
    """What runs after the sweep (scaling.sweep.analyse): collect to RUN_DIR/analysis/results.csv, a one-axis fit
    of `y` against `x` per `group` with its figure, and optionally a two-axis fit. Under SLURM it is a dependent job
    that re-checks the cells and resubmits unfinished ones at most `max_rounds` times. Not part of a cell's identity."""

    enabled: bool = True
    x: str = "train_size"
    y: str = "val_loss"
    group: tuple[str, ...] = ("arch", "n_params")
    law: str = "power"
    fit2d: str | None = None
    bootstrap: Annotated[int, Field(ge=0)] = 0
    max_rounds: Annotated[int, Field(ge=0)] = 2

    @model_validator(mode="after")
    def _known_laws(self) -> "AnalysisSpec":
        from scaling.analysis.laws import law_names

        for name, value, axes in (("law", self.law, 1), ("fit2d", self.fit2d, 2)):
            if value is not None and value not in law_names(n_inputs=axes):
                raise ValueError(f"field `analysis.{name}` = {json.dumps(value)}: unknown law "
                                 f"(known: {', '.join(law_names(n_inputs=axes))})")
        return self


class ExecutorSpec(_Strict):
    """Which executor runs the cells, and the settings of each (so `--executor` can switch between them)."""

    kind: Literal["inline", "local", "slurm"] = "local"
    local: LocalExecutorSpec = Field(default_factory=LocalExecutorSpec)
    slurm: SlurmExecutorSpec = Field(default_factory=SlurmExecutorSpec)


class EvaluationSpec(_Strict):
    """Use-case evaluation after training (scaling.evaluate; docs/usecase.md): a suite preset, the property
    families to compute (None: the suite's), the metals, the labelled test file of the `groups` suite, and any
    suite size field (`settings`, e.g. {ramp_steps: 60}). Not part of a cell's identity: training is the same."""

    enabled: bool = True
    suite: Literal["emt", "emt-light", "groups"] = "emt-light"
    families: tuple[str, ...] | None = None
    elements: tuple[str, ...] | None = None
    data: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid_suite(self) -> "EvaluationSpec":
        from scaling.evaluate.suite import configure, PRESETS

        values = {**self.settings, **{k: v for k in ("families", "elements", "data")
                                      if (v := getattr(self, k)) is not None}}
        try:
            configure(PRESETS[self.suite], values, "evaluation")
        except InputError as error:  # field, value and why come structured; the message is not re-parsed
            if error.field is None:
                raise ValueError(str(error)) from None
            shown = "" if error.value is None else f" = {error.value!r}"
            raise ValueError(f"field `evaluation.{error.field}`{shown} {error.why}") from None
        return self

    def suite_object(self):
        from scaling.evaluate.suite import configure, PRESETS

        values = {**self.settings, **{k: v for k in ("families", "elements", "data")
                                      if (v := getattr(self, k)) is not None}}
        return configure(PRESETS[self.suite], values, "evaluation")


class SweepSpec(_Strict):
    """A whole sweep file."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    dataset: DatasetSpec
    split: SplitSpec = Field(default_factory=SplitSpec)
    axes: Axes
    training: dict[str, Any] = Field(default_factory=dict)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    evaluation: EvaluationSpec | None = None
    analysis: AnalysisSpec | None = None

    @field_validator("training")
    @classmethod
    def _training_fields(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if (info.context or {}).get("frozen"):
            return value  # checked when it was frozen; skipping keeps torch out of `status` and `collect`
        return check_training(value)

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _slurm_tasks(self) -> "SweepSpec":
        """A data-parallel cell's K tasks must spread evenly over the nodes, and take its task whole (no packing)."""
        devices, slurm = int(self.training.get("devices", 1)), self.executor.slurm
        if devices % slurm.nodes:
            raise ValueError(f"field `executor.slurm.nodes` = {slurm.nodes}: training.devices = {devices} is not a "
                             "multiple of it")
        if devices > 1 and slurm.cells_per_gpu > 1:
            raise ValueError(f"field `executor.slurm.cells_per_gpu` = {slurm.cells_per_gpu}: packing needs "
                             f"training.devices = 1 (it is {devices})")
        return self

    def shared_settings(self) -> dict[str, Any]:
        """The settings every cell shares and that define it (everything but the axes and the executor)."""
        return {
            "dataset": self.dataset.settings(),
            "split": self.split.model_dump(mode="json"),
            "training": dict(sorted(self.training.items())),
        }

    def test_fraction(self) -> float:
        """The test fraction the split takes from the pool: none when the dataset names its own test set."""
        return 0.0 if self.dataset.test_path is not None else self.split.test_fraction

    def cells(self) -> list["Cell"]:
        """The grid, in a stable order (arch, params, train_size, seed)."""
        shared = self.shared_settings()
        return [
            Cell(arch=split_arch(arch)[0], arch_options=split_arch(arch)[1], n_params=n, train_size=d, seed=seed,
                 shared=shared)
            for arch, n, d, seed in itertools.product(
                self.axes.arch, self.axes.params, self.axes.train_size, self.axes.seed
            )
        ]


class Cell(BaseModel):
    """One point of the grid with everything that defines its training run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str
    n_params: int
    train_size: int
    seed: int
    shared: dict[str, Any]
    arch_options: dict[str, Any] = Field(default_factory=dict)

    def settings(self) -> dict[str, Any]:
        """Every setting; arch_options only when there are some, so cells without options keep their old hashes."""
        settings = self.model_dump(mode="json")
        if not settings["arch_options"]:
            del settings["arch_options"]
        return settings

    @cached_property
    def cell_id(self) -> str:
        """Readable prefix plus a stable hash of every setting, so equal settings always share one folder."""
        arch = re.sub(r"[^A-Za-z0-9_.-]", "_", self.arch)  # module:builder -> module_builder
        return f"{arch}-N{self.n_params}-D{self.train_size}-s{self.seed}-{settings_hash(self.settings())}"


def settings_hash(settings: dict[str, Any], length: int = 10) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace): stable across runs, machines and Python versions."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def _describe(error: ValidationError, source: str) -> str:
    """One line per error, each naming the file, the field and the value."""
    return "\n".join(_describe_one(item, source) for item in error.errors())


def _describe_one(item: dict[str, Any], source: str) -> str:
    message = str(item.get("ctx", {}).get("error", "")) if item["type"] == "value_error" else ""
    if message.startswith("field `"):
        return f"{source}: {message}"
    field = ".".join(str(part) for part in item["loc"]) or "(top level)"
    value = item.get("input")
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{source}: field `{field}` = {shown}: {item['msg']}"


def parse_spec(data: Any, source: str = "spec", frozen: bool = False) -> SweepSpec:
    """Validate a mapping as a sweep spec; raise InputError with one line naming the field and value.

    `frozen=True` (a run folder's own spec.yaml, validated when written) skips the check of `training` against
    TrainConfig, whose import pulls in torch."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: a sweep spec must be a YAML mapping, got {type(data).__name__}")
    try:
        return SweepSpec.model_validate(data, context={"frozen": frozen})
    except ValidationError as error:
        raise InputError(_describe(error, source)) from None


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a sweep YAML file; a relative dataset path is taken relative to the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: sweep spec not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a sweep spec (YAML file)") from None
    except (UnicodeDecodeError, PermissionError) as error:
        raise InputError(f"{path}: cannot read the sweep spec: {error}") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if isinstance(data, dict) and isinstance(data.get("dataset"), dict):
        for key in ("path", "test_path"):
            source = data["dataset"].get(key)
            if isinstance(source, str) and not os.path.isabs(source):
                data["dataset"] = {**data["dataset"], key: str((path.parent / source).resolve())}
    if isinstance(data, dict) and isinstance(data.get("evaluation"), dict):
        source = data["evaluation"].get("data")
        if isinstance(source, str) and not os.path.isabs(source):
            data["evaluation"] = {**data["evaluation"], "data": str((path.parent / source).resolve())}
    return parse_spec(data, str(path))


def spec_to_yaml(spec: SweepSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
