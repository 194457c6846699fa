"""One training run, start to finish, resumable at any step: `run_training(config, run_dir) -> result dict`.

The data order of epoch e is a permutation seeded by (seed, e) (with `epoch_steps`, a window of an endless stream of
such permutations), so the position in an epoch is one integer and a resumed run replays exactly the batches an
uninterrupted run would see. Everything else that evolves (weights,
optimiser moments, schedulers, RNG states, early-stopping counters, the epoch's running sums) is in the checkpoint.

With `devices: K` the same loop runs in K processes (scaling.train.distributed): each trains on its shard of the
same global batch, gradients are summed over the ranks, and every rank holds the same weights and checkpoint state;
only rank 0 writes files. The step reads nothing back from the device: the epoch's error sums and a divergence
flag accumulate there and are read at checkpoints and epoch ends (the logging interval), and the next batches are
assembled by a background thread (scaling.train.batches).
"""

from __future__ import annotations

import json
import logging
import math
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from scaling.atomic import atomic_write_json, atomic_write_text
from scaling.models.construct import build_model_config
from scaling.models.potential import ModelConfig, Potential
from scaling.train import checkpoint, distributed, identity
from scaling.train.batches import StepBatch, prefetched, step_batch
from scaling.train.compute import ComputeMeter
from scaling.train.config import TrainConfig
from scaling.train.data import RunData, fit_reference_energies, force_rms, load_run_data, to_device
from scaling.train.device_data import DeviceSet
from scaling.train.distributed import World
from scaling.train.losses import ErrorSums, LabelCounts, LossSettings, batch_loss, batch_terms

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """Where the run stands; saved in every checkpoint."""

    epoch: int = 0  # completed epochs
    batch_pos: int = 0  # batches of the current epoch already trained on
    step: int = 0  # optimiser steps so far
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0
    epoch_sums: dict = field(default_factory=lambda: asdict(ErrorSums()))
    epoch_atoms: int = 0
    epoch_step_seconds: float = 0.0


NO_BAD_STEP = 2**62  # Run.bad_step while every step was finite


class Diverged(Exception):
    """A non-finite loss: the run stops with status failed."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from scaling.errors import InputError

        raise InputError("train config: field device='cuda': no CUDA device is available")
    return torch.device(name)


def epoch_order(n: int, seed: int, epoch: int, epoch_samples: int | None = None) -> np.ndarray:
    """The shuffled order of epoch `epoch`: a function of (seed, epoch) only. By default one pass, permutation
    (seed, epoch); with `epoch_samples` (epoch_steps x batch_size), that many positions of an endless stream of
    passes, pass q being permutation (seed, q), so an epoch's length no longer depends on the subset's size."""
    if epoch_samples is None:
        return np.random.default_rng([seed, epoch]).permutation(n)
    start = epoch * epoch_samples
    passes = range(start // n, (start + epoch_samples - 1) // n + 1)
    stream = np.concatenate([np.random.default_rng([seed, q]).permutation(n) for q in passes])
    offset = start - passes[0] * n
    return stream[offset:offset + epoch_samples]


def lr_factor(config: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """Linear warm-up, then (cosine) a half cosine down to min_lr_ratio at total_steps, or (plateau) a constant 1."""
    warmup = config.warmup_steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.scheduler == "plateau":
            return 1.0
        fraction = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * fraction))

    return factor


def evaluate(model: Potential, graphs, batch_size: int, device: torch.device, weights: LossSettings) -> ErrorSums:
    """Loss terms and absolute errors over a whole set (forces and stress by autograd, no graph kept)."""
    model.eval()
    running, counts = torch.zeros(6, dtype=torch.float64, device=device), LabelCounts(0, 0, 0)
    for start in range(0, len(graphs), batch_size):
        batch = graphs.batch(range(start, min(start + batch_size, len(graphs))))
        labels = LabelCounts.of(batch)
        batch = to_device(batch, device)
        prediction = model(batch, forces=True, stress=labels.stress_components > 0)
        running += batch_terms(prediction, batch, weights)[1]
        counts = counts + labels
    sums = ErrorSums()
    sums.add(running, counts)
    return sums


class Run:
    """The state of one run in run_dir, and the steps that advance it."""

    def __init__(self, config: TrainConfig, run_dir: Path, data: RunData, world: World | None = None):
        self.config, self.run_dir, self.data, self.world = config, run_dir, data, world or World()
        self.device = distributed.device_of(resolve_device(config.device), self.world)
        self.weights = LossSettings(config.energy_weight, config.force_weight, config.stress_weight,
                                    config.loss, config.huber_delta)
        self.model_config, self.n_params = build_model_config(config, data)
        self.steps_per_epoch = config.epoch_steps or math.ceil(len(data.train) / config.batch_size)
        self.epoch_samples = config.epoch_steps * config.batch_size if config.epoch_steps else None
        total = config.max_epochs * self.steps_per_epoch
        self.total_steps = min(total, config.max_steps) if config.max_steps else total

        torch.manual_seed(config.seed)
        self.model = Potential(self.model_config).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        # the whole learning-rate schedule (warm-up, then cosine or constant); plateau decay is separate
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(config, self.total_steps))
        self.plateau = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=config.plateau_factor, patience=config.plateau_patience
            )
            if config.scheduler == "plateau"
            else None
        )
        self.progress = RunState()
        self.compute = ComputeMeter(self.device)
        # on the device, read at the logging interval (fold): this rank's error sums since the last fold, and the
        # first step whose loss or gradient was not finite (a large number while there is none)
        self.running = torch.zeros(6, dtype=torch.float64, device=self.device)
        self.bad_step = torch.full((), NO_BAD_STEP, dtype=torch.int64, device=self.device)
        self.epoch_counts = LabelCounts(0, 0, 0)  # the global batches' labels since the last fold (host)
        self.train_set = DeviceSet(data.train, self.device) if config.data_on_device else data.train

    # -- state ---------------------------------------------------------------------------------------------------
    def initialise(self) -> None:
        """Fresh run: reference energies and output scale from the training set, config written once."""
        reference, residual_rms = fit_reference_energies(self.data.train, self.model_config.elements)
        scale = force_rms(self.data.train) or residual_rms or 1.0
        self.model.reference_energies.copy_(torch.as_tensor(reference, dtype=torch.float32))
        self.model.energy_scale.fill_(scale)
        if self.world.is_main:
            atomic_write_json(self.run_dir / "config.json", identity.config_record(self.config))
            atomic_write_text(self.run_dir / "metrics.jsonl", "")
        self.compute.probe(self)

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "model_config": self.model_config.to_dict(),
            "train_config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "warmup": self.schedule.state_dict(),  # key kept: older checkpoints resume
            "plateau": self.plateau.state_dict() if self.plateau else None,
            "rng": checkpoint.rng_state(),
            "progress": asdict(self.progress),
            "compute": self.compute.state(),
        }

    def save_checkpoint(self) -> None:
        if self.world.is_main:
            checkpoint.save(self.run_dir / "checkpoint.pt", self.state())

    def resume(self, path: Path) -> None:
        saved = checkpoint.load(path, self.device, require=checkpoint.RESUME_KEYS)
        if ModelConfig.from_dict(saved["model_config"]).to_dict() != self.model_config.to_dict():
            from scaling.errors import InputError

            raise InputError(f"{path}: checkpoint's model {saved['model_config']} does not match this config")
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["warmup"])
        if self.plateau is not None:
            self.plateau.load_state_dict(saved["plateau"])
        checkpoint.restore_rng_state(saved["rng"])
        self.progress = RunState(**saved["progress"])
        self.compute.restore(saved.get("compute"), self)
        if self.world.is_main:
            self._truncate_metrics(self.progress.epoch)
        log.info("resumed %s at epoch %d, batch %d, step %d", self.run_dir, self.progress.epoch,
                 self.progress.batch_pos, self.progress.step)

    def _truncate_metrics(self, epochs: int) -> None:
        """Drop metric lines written after the checkpoint (their epochs will be trained again)."""
        path = self.run_dir / "metrics.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        kept = [line for line in lines if line.strip() and json.loads(line)["epoch"] <= epochs]
        atomic_write_text(path, "".join(line + "\n" for line in kept))

    def _append_metrics(self, record: dict) -> None:
        if not self.world.is_main:
            return
        path = self.run_dir / "metrics.jsonl"
        atomic_write_text(path, path.read_text() + json.dumps(record, allow_nan=False) + "\n")

    # -- stopping ------------------------------------------------------------------------------------------------
    def budget_spent(self, seconds: float, at_interval: bool = True) -> str | None:
        """Why training stops now, or None. Ranks must stop together, so with K processes the clocks are compared
        (an all-reduce) only `at_interval`, a step every rank reaches; the step budget needs no agreement."""
        config, progress = self.config, self.progress
        if config.max_steps is not None and progress.step >= config.max_steps:
            return "max_steps"
        if self.world.distributed and not at_interval:
            return None
        spent = [config.max_seconds is not None and seconds >= config.max_seconds,
                 config.max_cpu_seconds is not None and progress.cpu_seconds >= config.max_cpu_seconds]
        if self.world.distributed:  # any rank out of time stops them all
            votes = torch.tensor(spent, dtype=torch.float32, device=self.device)
            spent = [vote > 0 for vote in distributed.sum_over_ranks(votes, self.world).tolist()]
        return "max_seconds" if spent[0] else "max_cpu_seconds" if spent[1] else None

    def finished(self, seconds: float) -> str | None:
        if self.progress.bad_epochs >= self.config.patience:
            return "early_stopping"
        if self.progress.epoch >= self.config.max_epochs:
            return "max_epochs"
        return self.budget_spent(seconds)

    # -- steps ---------------------------------------------------------------------------------------------------
    def step_batch(self, order: np.ndarray, batch_pos: int) -> StepBatch:
        """This rank's share of batch `batch_pos` of the epoch with shuffled `order` (on the host)."""
        start = batch_pos * self.config.batch_size
        return step_batch(self.train_set, order[start:start + self.config.batch_size], self.world,
                          pin=self.device.type == "cuda" and not self.config.data_on_device)

    def train_step(self, step: StepBatch) -> None:
        """One optimiser step on this rank's shard; nothing is read back from the device."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = None
        if step.batch is not None:
            batch = to_device(step.batch, self.device)
            stress = self.weights.stress > 0 and step.stress
            prediction = self.model(batch, forces=True, stress=stress, create_graph=True)
            loss, sums = batch_loss(prediction, batch, self.weights, normaliser=step.total)
            loss.backward()
            self.running += sums
        self.epoch_counts = self.epoch_counts + step.total
        if self.world.distributed:
            distributed.sum_gradients(list(self.model.parameters()))
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        finite = torch.isfinite(norm) if loss is None else torch.isfinite(norm) & torch.isfinite(loss)
        self.bad_step = torch.where(finite, self.bad_step, self.bad_step.clamp(max=self.progress.step + 1))
        self.optimizer.step()
        if self.plateau is None or self.progress.step < self.config.warmup_steps:
            self.schedule.step()
        self.progress.epoch_atoms += step.total.force_components // 3
        self.progress.step += 1

    def fold(self) -> None:
        """Read the device-side bookkeeping (the logging interval): the ranks' error sums join the epoch's, and a
        non-finite step since the last fold ends the run (Diverged) before anything is saved."""
        sums = ErrorSums(**self.progress.epoch_sums)
        sums.add(distributed.sum_over_ranks(self.running, self.world), self.epoch_counts)
        self.progress.epoch_sums, self.epoch_counts = asdict(sums), LabelCounts(0, 0, 0)
        self.running.zero_()
        bad = int(self.bad_step)
        if bad != NO_BAD_STEP:
            raise Diverged(f"non-finite training loss at step {bad}")

    def end_epoch(self, seconds: float) -> None:
        """Validate, keep the best weights, step the plateau scheduler, log the epoch, checkpoint."""
        config, progress = self.config, self.progress
        self.fold()
        val = evaluate(self.model, self.data.val, config.eval_batch_size, self.device, self.weights)
        val_loss = val.loss(self.weights)
        if not math.isfinite(val_loss):
            raise Diverged(f"non-finite validation loss ({val_loss}) after epoch {progress.epoch + 1}")
        progress.epoch += 1
        if val_loss < progress.best_val:
            progress.best_val, progress.best_epoch, progress.bad_epochs = val_loss, progress.epoch, 0
            if self.world.is_main:
                checkpoint.save(self.run_dir / "best.pt", {
                    "model": self.model.state_dict(), "model_config": self.model_config.to_dict(),
                    "epoch": progress.epoch, "val_loss": val_loss,
                })
        else:
            progress.bad_epochs += 1
        if self.plateau is not None and progress.step >= config.warmup_steps:
            self.plateau.step(val_loss)
        maes = val.maes()
        train = ErrorSums(**progress.epoch_sums)
        self._append_metrics({
            "epoch": progress.epoch,
            "step": progress.step,
            "train_loss": train.loss(self.weights),
            "val_loss": val_loss,
            "val_energy_mae_mev": maes["energy_mae"] * 1000,
            "val_force_mae_mev": None if maes["force_mae"] is None else maes["force_mae"] * 1000,
            "val_stress_mae": maes["stress_mae"],
            "atoms_per_s": progress.epoch_atoms / max(progress.epoch_step_seconds, 1e-9),
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": seconds,
            "cpu_seconds": progress.cpu_seconds,
        })
        log.info("epoch %d step %d val_loss %.4g force MAE %s meV/A", progress.epoch, progress.step, val_loss,
                 None if maes["force_mae"] is None else round(maes["force_mae"] * 1000, 1))
        progress.batch_pos, progress.epoch_sums, progress.epoch_atoms, progress.epoch_step_seconds = (
            0, asdict(ErrorSums()), 0, 0.0)
        self.save_checkpoint()

    def train(self, on_step: Callable[[int], None] | None, progress_bar) -> None:
        """Epochs until a stopping rule fires; raises Diverged on a non-finite loss."""
        config, progress = self.config, self.progress
        started = time.perf_counter() - progress.train_seconds
        cpu_started = time.process_time() - progress.cpu_seconds

        def elapsed() -> float:
            progress.cpu_seconds = time.process_time() - cpu_started
            return time.perf_counter() - started

        while not self.finished(elapsed()):
            order = epoch_order(len(self.data.train), config.seed, progress.epoch, self.epoch_samples)
            remaining = range(progress.batch_pos, self.steps_per_epoch)
            make = partial(self.step_batch, order)
            with closing(prefetched(make, remaining, config.prefetch)) as batches:
                for step in batches:
                    if self.budget_spent(elapsed(), progress.step % config.checkpoint_every_steps == 0):
                        break
                    begin = time.perf_counter()
                    self.train_step(step)
                    progress.batch_pos += 1
                    progress.epoch_step_seconds += time.perf_counter() - begin
                    progress.train_seconds = elapsed()
                    if progress_bar is not None:
                        progress_bar(progress.step)
                    if (progress.step % config.checkpoint_every_steps == 0
                            and progress.batch_pos < self.steps_per_epoch):
                        self.fold()
                        self.save_checkpoint()
                    if on_step is not None:
                        on_step(progress.step)
            self.end_epoch(elapsed())
            progress.train_seconds = elapsed()

    # -- result --------------------------------------------------------------------------------------------------
    def result(self, status: str, reason: str | None) -> dict:
        config, progress = self.config, self.progress
        test = {"energy_mae": None, "force_mae": None, "stress_mae": None}
        if status == "done" and self.world.is_main:
            best = self.run_dir / "best.pt"
            if best.exists():
                self.model.load_state_dict(checkpoint.load(best, self.device, require=("model",))["model"])
            test = evaluate(self.model, self.data.test, config.eval_batch_size, self.device, self.weights).maes()
        return {
            "n_params": self.n_params,
            "params_target": config.params,
            "width": self.model_config.width,
            "depth": self.model_config.depth,
            "cutoff": self.model_config.cutoff,
            "train_size": len(self.data.train),
            "seed": config.seed,
            "arch": config.arch,
            "arch_options": self.model_config.options,
            "val_loss": progress.best_val if math.isfinite(progress.best_val) else None,
            "test_energy_mae": test["energy_mae"],
            "test_force_mae": test["force_mae"],
            "test_stress_mae": test["stress_mae"],
            "epochs": progress.epoch,
            "best_epoch": progress.best_epoch,
            "steps": progress.step,
            "status": status,
            "reason": reason,
            "train_seconds": progress.train_seconds,
            "cpu_seconds": progress.cpu_seconds,
            "device": self.device.type,
            **self.compute.result(self),
        }


RESULT_KEYS = ("n_params", "train_size", "val_loss", "test_energy_mae", "test_force_mae", "test_stress_mae", "epochs",
               "best_epoch", "status")


def _finished_result(path: Path) -> dict | None:
    """A done run's result.json, or None: absent, failed, torn or incomplete (the run is then finished again from
    its checkpoint, which re-evaluates best.pt and rewrites the file)."""
    if not path.is_file():
        return None
    try:
        previous = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        log.warning("%s: unreadable; the run is finished again from its checkpoint", path)
        return None
    if not isinstance(previous, dict) or previous.get("status") != "done":
        return None
    if any(key not in previous for key in RESULT_KEYS):
        log.warning("%s: incomplete; the run is finished again from its checkpoint", path)
        return None
    return previous


def run_training(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    data: RunData | None = None,
    on_step: Callable[[int], None] | None = None,
    progress: bool = False,
) -> dict:
    """Train (or resume, or just report) the run in run_dir; returns the result.json dict.

    `data` replaces the store named in config (in-memory sets, for tests and scripts); `on_step(step)` is called
    after every optimiser step (on rank 0); `progress` shows a progress bar over optimiser steps. With
    `config.devices` K > 1 this process is rank 0 of K: under torchrun or a SLURM task the others are launched
    already (RANK/WORLD_SIZE in the environment), otherwise it spawns ranks 1..K-1 here.
    """
    run_dir = Path(run_dir)
    identity.check_same_run(config, run_dir)  # a folder made with other settings is refused, before anything runs
    previous = _finished_result(run_dir / "result.json")
    if previous is not None:
        return previous
    world = distributed.launched_world()
    if world is not None:
        distributed.check_launched(world, config.devices)
        return _train_rank(world, "env://", config, run_dir, data, on_step if world.is_main else None,
                           progress and world.is_main)
    if config.devices == 1:
        return _train_rank(World(), None, config, run_dir, data, on_step, progress)
    others, init_method = distributed.spawn_ranks(_train_rank, (config, run_dir, data), config.devices)
    failed = True
    try:
        result = _train_rank(World(0, config.devices, 0), init_method, config, run_dir, data, on_step, progress)
        failed = False
    finally:
        distributed.reap(others, failed)
    return result


def _train_rank(world: World, init_method: str | None, config: TrainConfig, run_dir: Path, data: RunData | None,
                on_step: Callable[[int], None] | None = None, progress: bool = False) -> dict:
    """This process's part of the run: all of it in a 1-process run, one rank's in a K-process one."""
    if config.threads:
        torch.set_num_threads(config.threads)
    run = Run(config, run_dir, data if data is not None else load_run_data(config), world)  # validates first
    if world.distributed:
        distributed.join(world, run.device, init_method)
    try:
        return _train(run, on_step, progress)
    finally:
        if world.distributed:
            distributed.leave()


def _train(run: Run, on_step: Callable[[int], None] | None, progress: bool) -> dict:
    run_dir, world = run.run_dir, run.world
    saved = run_dir / "checkpoint.pt"
    resuming = saved.exists()
    if world.distributed:
        distributed.barrier()  # every rank has looked for a checkpoint before rank 0 writes the first one
    if world.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    if resuming:
        run.resume(saved)
    else:
        run.initialise()
        run.save_checkpoint()
    try:
        if progress:
            from rich.progress import Progress as Bar

            with Bar(transient=True) as bar:
                task = bar.add_task("training", total=run.total_steps, completed=run.progress.step)
                run.train(on_step, lambda step: bar.update(task, completed=step))
        else:
            run.train(on_step, None)
        result = run.result("done", None)
    except Diverged as error:
        log.warning("%s: %s", run_dir, error)
        result = run.result("failed", str(error))
    if world.is_main:
        atomic_write_json(run_dir / "result.json", result)
    return result
