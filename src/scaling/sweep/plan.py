"""`scaling sweep plan`: what a sweep will cost (parameters, steps, FLOPs, time, memory) before anything trains.

Per (arch, params) the planner builds the real model (so the parameter count is the sizer's) and times real
training steps (`Run.train_step`), validation passes and checkpoint writes on a sample of the spec's own data:
the sweep's graph store when it is built already (RUN_DIR/data/store, only read), else the first structures of
the dataset (the EMT pool is a prefix of any larger pool with its seed; a file's first frames) in a temporary
store. `sweep run` hands the planner the pool its preflight has read already, so nothing is generated or read
twice. A cell's time is then the terms its training loop spends `train_seconds` on:

    steps x (a + b x structures in the batch) + epochs x validation(n_val) + checkpoint writes,

with a, b from steps on a full batch and on one structure (likewise for validation). FLOPs per structure are
counted on the probe's batches (scaling.train.compute) and multiplied by the structures each cell will see.
Epochs are the budget's (max_epochs, max_steps): early stopping only shortens a cell. `sweep plan` writes nothing
into the run folder; `sweep run` saves the plan it prints as RUN_DIR/plan.json (`save_plan`), so a finished run can
be compared with it (benchmarks/bench_planner.py --run-dir). The probe's scratch files live in a temporary folder.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scaling.data.store import is_store
from scaling.sweep.runfolder import RunFolder, read_json
from scaling.sweep.spec import Cell, SweepSpec

log = logging.getLogger(__name__)

# Relative training time of one structure-step per parameter, by architecture (the three-body filter roughly
# doubles a step at equal N; measured in docs/benchmarks.md). Used to order cells (largest first) and pack them.
ARCH_COST = {"twobody": 1.0, "threebody": 2.0, "mace": 15.0}
TIMED_STEPS = 3
WINDOW_S = 0.5  # each timing runs at least this long (or 10 x TIMED_STEPS calls), to average over scheduling
PROBE_SAMPLE = 48  # structures sampled for the probe (cycled when a batch is larger)


def cell_cost(cell: Cell) -> float:
    """A cheap relative cost of a cell (no probe): D x N x the architecture's factor; orders and packs cells."""
    return cell.train_size * cell.n_params * ARCH_COST.get(cell.arch, 1.0)


@dataclass
class Timing:
    """Seconds of the loop's parts on one clock (wall, or the process's CPU time)."""

    step: tuple[float, float] = (0.0, 0.0)  # a, b: one optimiser step takes a + b x structures
    eval: tuple[float, float] = (0.0, 0.0)  # a, b: one validation batch takes a + b x structures
    save: float = 0.0  # one checkpoint write


@dataclass
class Probe:
    """What one (arch, params) costs on this machine, measured."""

    n_params: int | None = None
    width: int | None = None
    depth: int | None = None
    wall: Timing = field(default_factory=Timing)
    cpu: Timing = field(default_factory=Timing)
    flops_per_structure: float = 0.0
    peak_rss_mb: float = 0.0
    peak_cuda_mb: float | None = None
    probe_seconds: float = 0.0
    error: str | None = None


@dataclass
class CellPlan:
    cell_id: str
    arch: str
    params_target: int
    train_size: int
    seed: int
    status: str  # todo | done | error
    n_params: int | None = None
    width: int | None = None
    depth: int | None = None
    epochs: int = 0
    steps: int = 0
    structures_seen: int = 0
    train_flops: float = 0.0
    train_seconds: float = 0.0  # the training loop (validation and checkpoints included), as result.json's
    test_seconds: float = 0.0  # the final test evaluation
    device_seconds: float = 0.0  # as result.json's: CPU seconds of the training loop on CPU, its wall seconds on CUDA
    peak_rss_mb: float = 0.0
    peak_cuda_mb: float | None = None
    error: str | None = None


@dataclass
class Plan:
    sweep: str
    executor: str
    device: str
    threads_per_cell: int
    workers: int
    data: str
    cells: list[CellPlan] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- the probe ----------------------------------------------------------------------------------------------
@dataclass
class _Sample:
    store: Any  # GraphStore
    indices: Any  # np.ndarray: the sampled structures
    elements: tuple[int, ...]
    cutoff: float
    n_pool: int
    n_val: int
    n_test: int
    source: str


def _sample(spec: SweepSpec, folder: RunFolder, scratch: Path, pool: list | None = None) -> _Sample:
    """Structures to probe on: the built store (read only), else the dataset's first structures in a scratch store
    (taken from `pool`, the dataset's structures, when the caller has read them already)."""
    import numpy as np

    from scaling.data.store import GraphStore, build_store
    from scaling.train.data import _atomic_numbers

    built = folder.data_dir / "store"
    prebuilt = Path(spec.dataset.path) if spec.dataset.path is not None else None
    if not is_store(built) and prebuilt is not None and is_store(prebuilt):
        built = prebuilt  # the dataset is a store made by `scaling data build`: probe it in place, read only
    split = spec.split
    if is_store(built):
        store = GraphStore(built)
        n = len(store)
        indices = np.unique(np.linspace(0, n - 1, min(n, PROBE_SAMPLE)).round().astype(np.int64))
        source = f"the graph store {built}"
    else:
        structures, n, source = _first_structures(spec, pool)
        store = GraphStore(build_store(None, scratch / "store", cutoff=spec.dataset.cutoff, structures=structures))
        indices = np.arange(len(store))
    elements = store.elements
    if spec.dataset.emt is not None and not is_store(built):
        from scaling.data.emt import DEFAULT_ELEMENTS, check_elements

        elements = check_elements(spec.dataset.emt.elements or DEFAULT_ELEMENTS)  # the pool's, not the prefix's
    return _Sample(store, indices, _atomic_numbers(elements), store.cutoff, n,
                   round(split.val_fraction * n), round(split.test_fraction * n), source)


def _first_structures(spec: SweepSpec, pool: list | None = None):
    """(structures, pool size, description): the EMT pool's prefix (generated), or a file's first frames; from
    `pool` (the whole dataset, as preflight read it) when given."""
    from scaling.data.io import read_structures

    if spec.dataset.path is not None:
        structures = pool if pool is not None else read_structures(spec.dataset.path)
        sample = structures[:PROBE_SAMPLE]
        return sample, len(structures), f"the first {len(sample)} structures of {spec.dataset.path}"
    from scaling.data.emt import DEFAULT_ELEMENTS, generate

    emt = spec.dataset.emt
    n = min(emt.n, PROBE_SAMPLE)
    if pool is not None:
        return pool[:n], emt.n, f"the first {n} structures of the EMT pool (seed {emt.seed})"
    structures = generate(n, seed=emt.seed, elements=emt.elements or DEFAULT_ELEMENTS, workers=1)
    return structures, emt.n, f"the first {n} structures of the EMT pool (seed {emt.seed})"


def _mean_time(work, repeat: int, window: float = WINDOW_S) -> tuple[float, float]:
    """Mean (wall, CPU) seconds of `work()` over at least `repeat` calls and `window` seconds (at most 10 x repeat
    calls). The wall mean is a throughput that includes waiting for a core on a shared machine, as training will;
    the CPU mean (this process, all threads) does not, so it is the figure that load leaves alone."""
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while calls < repeat or (time.perf_counter() - start < window and calls < 10 * repeat):
        work()
        calls += 1
    return (time.perf_counter() - start) / calls, (time.process_time() - cpu) / calls


def _linear(full: float, single: float, size: int) -> tuple[float, float]:
    """(a, b) with a + b = single and a + b x size = full (both >= 0)."""
    if size <= 1:
        return single, 0.0
    b = max((full - single) / (size - 1), 0.0)
    return max(single - b, 0.0), b


def _timings(full, single, batch, eval_full, eval_single, m, save) -> tuple[Timing, Timing]:
    """(wall, CPU) Timings from the (wall, CPU) pairs that _mean_time measured."""
    return tuple(Timing(_linear(full[k], single[k], batch), _linear(eval_full[k], eval_single[k], m), save[k])
                 for k in (0, 1))


def _probe(spec: SweepSpec, cell: Cell, sample: _Sample, device: str, threads: int, scratch: Path) -> Probe:
    """Build the cell's model (arch, its options, params) and time real training steps, validation and checkpoint
    writes."""
    import numpy as np
    import torch

    from scaling.errors import InputError
    from scaling.train import TrainConfig
    from scaling.train.batches import step_batch
    from scaling.train.compute import current_rss_mb, peak_cuda_mb, peak_rss_mb, reset_peak_memory
    from scaling.train.data import RunData, StoreSet
    from scaling.train.loop import Run, evaluate

    began = time.perf_counter()
    arch, params = cell.arch, cell.n_params
    config = TrainConfig.from_dict({**spec.training, "params": params, "arch": arch, "arch_options": cell.arch_options,
                                    "seed": 0, "device": device, "threads": threads}, source=f"{arch} N={params}")
    batch, eval_batch = config.batch_size, config.eval_batch_size
    data_set = StoreSet(sample.store, sample.indices)
    data = RunData(data_set, data_set, data_set, sample.elements, sample.cutoff)
    torch_device = torch.device("cuda" if device == "cuda" else "cpu")
    reset_peak_memory(torch_device)
    try:
        run = Run(config, Path(tempfile.mkdtemp(prefix="probe-", dir=scratch)), data)
    except InputError as error:
        return Probe(error=str(error))
    run.initialise()  # reference energies, and the FLOP count of a step (scaling.train.compute)
    n = len(data_set)
    cursor = iter(range(10**9))

    def positions(size: int) -> list[int]:
        start = next(cursor) * size
        return [(start + k) % n for k in range(size)]

    def train_step(size: int) -> None:
        """One step with its batch assembly; on a GPU waited for (the step itself reads nothing back)."""
        run.train_step(step_batch(run.train_set, np.asarray(positions(size)), run.world))
        if run.device.type == "cuda":
            torch.cuda.synchronize(run.device)

    train_step(batch)  # warm-up: first-call allocations and dispatch caches
    full = _mean_time(lambda: train_step(batch), TIMED_STEPS)
    single = _mean_time(lambda: train_step(1), TIMED_STEPS)
    m = min(eval_batch, n)
    eval_set = StoreSet(sample.store, sample.indices[:m])
    one = StoreSet(sample.store, sample.indices[:1])
    evaluate(run.model, one, eval_batch, run.device, run.weights)
    train_rss, train_cuda = peak_rss_mb(), peak_cuda_mb(torch_device)
    before_eval = current_rss_mb()
    reset_peak_memory(torch_device)
    eval_full = _mean_time(lambda: evaluate(run.model, eval_set, eval_batch, run.device, run.weights), 2)
    eval_single = _mean_time(lambda: evaluate(run.model, one, eval_batch, run.device, run.weights), 2)
    save = _mean_time(run.save_checkpoint, 2)
    grow = max(eval_batch / m, 1.0)  # a full validation batch's activations, when the sample is smaller
    rss = max(train_rss, before_eval + (peak_rss_mb() - before_eval) * grow)
    cuda = None if train_cuda is None else max(train_cuda, peak_cuda_mb(torch_device) * grow)
    wall, cpu = _timings(full, single, batch, eval_full, eval_single, m, save)
    return Probe(
        n_params=run.n_params, width=run.model_config.width, depth=run.model_config.depth, wall=wall, cpu=cpu,
        flops_per_structure=run.compute.flops["flops_per_structure"],
        peak_rss_mb=rss, peak_cuda_mb=cuda,
        probe_seconds=time.perf_counter() - began,
    )


# ---- the cost model -----------------------------------------------------------------------------------------
def _cell_plan(cell: Cell, probe: Probe, training: dict, sample: _Sample, device: str) -> CellPlan:
    from scaling.train import TrainConfig
    from scaling.train.compute import structures_seen

    plan = CellPlan(cell_id=cell.cell_id, arch=cell.arch, params_target=cell.n_params, train_size=cell.train_size,
                    seed=cell.seed, status="todo")
    if probe.error:
        plan.status, plan.error = "error", probe.error
        return plan
    config = TrainConfig.from_dict({**training, "params": cell.n_params})
    batch, eval_batch = config.batch_size, config.eval_batch_size
    per_epoch = config.epoch_steps or math.ceil(cell.train_size / batch)
    steps = config.max_epochs * per_epoch
    if config.max_steps:
        steps = min(steps, config.max_steps)
    epochs = math.ceil(steps / per_epoch)
    seen = structures_seen(steps, cell.train_size, batch, config.epoch_steps)
    saves = epochs * 3 + steps // config.checkpoint_every_steps  # checkpoint, best.pt and metrics per epoch

    def seconds(timing: Timing, n_eval: int, loop: bool) -> float:
        (a, b), (ea, eb) = timing.step, timing.eval
        evaluation = math.ceil(n_eval / eval_batch) * ea + n_eval * eb
        return steps * a + seen * b + epochs * evaluation + saves * timing.save if loop else evaluation

    plan.n_params, plan.width, plan.depth = probe.n_params, probe.width, probe.depth
    plan.epochs, plan.steps, plan.structures_seen = epochs, steps, seen
    plan.train_flops = probe.flops_per_structure * seen
    plan.train_seconds = seconds(probe.wall, sample.n_val, True)
    plan.test_seconds = seconds(probe.wall, sample.n_test, False)
    plan.device_seconds = plan.train_seconds if device == "cuda" else seconds(probe.cpu, sample.n_val, True)
    plan.peak_rss_mb, plan.peak_cuda_mb = probe.peak_rss_mb, probe.peak_cuda_mb
    return plan


def _makespan(durations: list[float], workers: int) -> float:
    """Wall time of handing jobs, longest first, to the first free of `workers` (as the local pool does)."""
    free = [0.0] * max(min(workers, len(durations)), 1)
    for duration in sorted(durations, reverse=True):
        heapq.heapreplace(free, free[0] + duration)
    return max(free)


def _execution(spec: SweepSpec, kind: str, n_todo: int) -> tuple[str, int, int, list[str]]:
    """(device, torch threads per cell, cells at once, warnings) as the executor will run them here."""
    import torch

    from scaling.system import available_cores

    cores, notes = available_cores(), []
    if kind == "slurm":
        settings = spec.executor.slurm
        wanted, workers = settings.device, settings.array_parallelism
        threads = max(1, settings.cpus // settings.cells_per_gpu)  # packed cells split the task's CPUs
        if threads > cores:
            notes.append(f"probe ran with {cores} threads here; SLURM tasks get cpus={threads}")
            threads = cores
    else:
        wanted = spec.executor.local.device
        workers = 1 if kind == "inline" else min(spec.executor.local.max_parallel or cores, max(n_todo, 1))
        threads = cores if kind == "inline" else max(1, cores // workers)
    device = "cuda" if wanted in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and device == "cpu":
        notes.append("no CUDA device here: times are this machine's CPU times, far above a GPU's")
    return device, threads, workers, notes


def plan_sweep(spec: SweepSpec, executor: str | None = None, run_dir: str | os.PathLike | None = None,
               pool: list | None = None) -> Plan:
    """Every cell's parameters, steps, FLOPs, time and memory, with totals and warnings; reads, never writes.
    `pool`: the dataset's structures when the caller has read them (the probe samples them instead of the source)."""
    import torch

    from scaling.sweep.runner import default_run_dir

    kind = executor or spec.executor.kind
    folder = RunFolder(run_dir or default_run_dir(spec))
    cells = spec.cells()
    done = {c.cell_id for c in cells if (read_json(folder.cell_dir(c.cell_id) / "result.json") or {}).get("status")
            == "done"} if folder.exists() else set()
    todo = [c for c in cells if c.cell_id not in done]
    device, threads, workers, notes = _execution(spec, kind, len(todo))
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    probes: dict[tuple[str, str, int], Probe] = {}
    sample = None
    try:
        with tempfile.TemporaryDirectory(prefix="scaling-plan-") as scratch:
            if todo:
                sample = _sample(spec, folder, Path(scratch), pool)
            for cell in todo:
                if _probe_key(cell) not in probes:
                    probes[_probe_key(cell)] = _probe(spec, cell, sample, device, threads, Path(scratch))
    finally:
        torch.set_num_threads(previous_threads)
    plan = Plan(sweep=spec.name, executor=kind, device=device, threads_per_cell=threads, workers=workers,
                data=sample.source if sample else "-", warnings=notes)
    for cell in cells:
        if cell.cell_id in done:
            plan.cells.append(CellPlan(cell.cell_id, cell.arch, cell.n_params, cell.train_size, cell.seed, "done"))
        else:
            plan.cells.append(_cell_plan(cell, probes[_probe_key(cell)], spec.training, sample, device))
    _totals(plan, spec, kind)
    return plan


def _probe_key(cell: Cell) -> tuple[str, str, int]:
    """Cells that build the same model share one probe: architecture, its options, parameter target."""
    return cell.arch, json.dumps(cell.arch_options, sort_keys=True), cell.n_params


def _totals(plan: Plan, spec: SweepSpec, kind: str) -> None:
    todo = [c for c in plan.cells if c.status == "todo"]
    seconds = [c.train_seconds + c.test_seconds for c in todo]
    if kind == "slurm":
        settings = spec.executor.slurm
        ordered = sorted(todo, key=lambda c: c.train_seconds)  # as submit_slurm packs them: similar cells together
        packs = [ordered[i:i + settings.cells_per_job] for i in range(0, len(ordered), settings.cells_per_job)]
        def pack_time(pack) -> float:  # cells_per_gpu of its cells at once
            return _makespan([c.train_seconds + c.test_seconds for c in pack], settings.cells_per_gpu)

        wall = _makespan([pack_time(pack) for pack in packs], plan.workers)
        limit = settings.time_min * 60
        for pack in packs:
            pack_seconds = pack_time(pack)
            if pack_seconds > limit:
                requeues = math.ceil(pack_seconds / limit) - 1
                fate = (f"more than max_requeues={settings.max_requeues}: it will not finish"
                        if requeues > settings.max_requeues else "it resumes from its checkpoint each time")
                plan.warnings.append(f"{', '.join(c.cell_id for c in pack)}: about {format_seconds(pack_seconds)} > "
                                     f"the SLURM time limit of {settings.time_min} min: {requeues} requeue(s), {fate}")
        for cell in todo:
            if settings.memory_gb is not None and cell.peak_rss_mb > settings.memory_gb * 1024:
                plan.warnings.append(f"{cell.cell_id}: about {cell.peak_rss_mb / 1024:.1f} GB of memory > "
                                     f"memory_gb={settings.memory_gb}")
        gpus = settings.gpus if plan.device == "cuda" else 0
    else:
        wall = _makespan(seconds, plan.workers)
        gpus = 1 if plan.device == "cuda" else 0
        peaks = sorted((c.peak_rss_mb for c in todo), reverse=True)[:plan.workers]
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
        if sum(peaks) > physical:
            plan.warnings.append(f"{plan.workers} cells at once need about {sum(peaks) / 1024:.1f} GB of memory, "
                                 f"more than this machine's {physical / 1024:.1f} GB")
    if plan.device == "cuda":
        import torch

        total = torch.cuda.get_device_properties(0).total_memory / 2**20
        plan.warnings += [f"{c.cell_id}: about {c.peak_cuda_mb:.0f} MB of GPU memory > this GPU's {total:.0f} MB"
                          for c in todo if (c.peak_cuda_mb or 0) > total]
    plan.warnings += [f"{c.cell_id}: will fail: {c.error}" for c in plan.cells if c.status == "error"]
    plan.totals = {
        "cells": len(plan.cells), "cells_to_train": len(todo),
        "cells_done": sum(c.status == "done" for c in plan.cells),
        "train_flops": sum(c.train_flops for c in todo),
        "cell_seconds": sum(seconds),
        "core_hours": None if gpus else sum(c.device_seconds for c in todo) / 3600,
        "gpu_hours": sum(seconds) * gpus / 3600 if gpus else None,
        "wall_seconds": wall if todo else 0.0,
    }


# ---- output -------------------------------------------------------------------------------------------------
PLAN_FILE = "plan.json"  # RUN_DIR/plan.json: the plan `sweep run` printed, as `sweep plan --json` writes it


def save_plan(run_dir: str | os.PathLike, plan: Plan) -> Path:
    """Write `plan` as RUN_DIR/plan.json (atomically), with when it was made; returns the path."""
    from datetime import datetime, timezone

    from scaling.atomic import atomic_write_json

    path = Path(run_dir) / PLAN_FILE
    atomic_write_json(path, {**plan.to_dict(), "planned_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return path


def format_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def summary_line(plan: Plan) -> str:
    """One line: cells, FLOPs, device-hours and wall time of what is left to train."""
    totals = plan.totals
    if not totals["cells_to_train"]:
        return f"plan: nothing to train ({totals['cells_done']} cells done)"
    hours = (f"{totals['gpu_hours']:.3g} GPU-hours" if totals["gpu_hours"] is not None
             else f"{totals['core_hours']:.3g} core-hours")
    warn = f"; {len(plan.warnings)} warning(s): see `scaling sweep plan`" if plan.warnings else ""
    return (f"plan: {totals['cells_to_train']} cells to train, {totals['train_flops']:.3g} FLOPs, {hours}, about "
            f"{format_seconds(totals['wall_seconds'])} wall ({plan.executor}, {plan.workers} at once, "
            f"{plan.threads_per_cell} thread(s) each, {plan.device}){warn}")


def planned_seconds(run_dir: str | os.PathLike) -> dict[str, float]:
    """{cell_id: planned train + test seconds} of the cells RUN_DIR/plan.json planned to train (empty without one)."""
    saved = read_json(Path(run_dir) / PLAN_FILE) or {}
    return {cell["cell_id"]: float(cell.get("train_seconds") or 0.0) + float(cell.get("test_seconds") or 0.0)
            for cell in saved.get("cells", []) if cell.get("status") == "todo" and cell.get("train_seconds")}
