"""The share of a training step spent outside the model (batch assembly, copies, bookkeeping), without and with the
batch prefetch, in the real training loop (`run_training` on a graph store built here).

Each optimiser step's wall time is the interval between consecutive `on_step` calls; the model's share is the time
inside `Run.train_step` (to device, forward with forces, loss, backward, clipping, optimiser). The rest of the
interval is outside the model: with `prefetch: 0` the batch is sliced from the store on the training thread, with
`prefetch: 2` a background thread has it ready. Runs alternate (0, 2, 0, 2, ...) so load on the machine hits both
alike; one epoch per run, no checkpoint inside it, the first steps of each run not counted.

    python benchmarks/bench_train_step_overhead.py [--structures 480] [--batch-size 16] [--params 2000] [--rounds 3]
        [--device cpu] [--data-on-device]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from scaling.cli import main as scaling
from scaling.data.emt import generate
from scaling.data.io import write_extxyz
from scaling.train import TrainConfig, run_training
from scaling.train.loop import Run

WARMUP_STEPS = 3


def build_store(folder: Path, structures: int) -> Path:
    write_extxyz(generate(structures, seed=0, elements=("Al", "Cu", "Ni"), workers=1), folder / "data.extxyz")
    assert scaling(["-q", "data", "build", str(folder / "data.extxyz"), "--cutoff", "5.0", "--out",
                    str(folder / "store")]) == 0
    return folder / "store"


def measure(config: TrainConfig, run_dir: Path) -> tuple[float, float]:
    """(mean step interval, mean time inside Run.train_step), seconds, over the run's steps after the warm-up."""
    inside, marks = [], []
    real_step = Run.train_step

    def timed_step(run, step):
        begin = time.perf_counter()
        real_step(run, step)
        if run.device.type == "cuda":
            import torch

            torch.cuda.synchronize()  # the benchmark's own wait, so the model's time is all counted inside
        inside.append(time.perf_counter() - begin)

    Run.train_step = timed_step
    try:
        run_training(config, run_dir, on_step=lambda step: marks.append(time.perf_counter()))
    finally:
        Run.train_step = real_step
    intervals = np.diff(marks)[WARMUP_STEPS:]
    return float(np.mean(intervals)), float(np.mean(inside[WARMUP_STEPS + 1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--params", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-on-device", action="store_true", help="the training subset on the device")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp), args.structures)
        totals = {0: [], 2: []}
        for round_ in range(args.rounds):
            for prefetch in totals:
                config = TrainConfig(store=str(store), params=args.params, batch_size=args.batch_size, max_epochs=1,
                                     checkpoint_every_steps=10**6, device=args.device, threads=1, prefetch=prefetch,
                                     data_on_device=args.data_on_device, val_fraction=0.05, test_fraction=0.05)
                totals[prefetch].append(measure(config, Path(tmp) / f"run-{round_}-{prefetch}"))
        print(f"device {args.device}, {args.structures} structures, batch {args.batch_size}, ~{args.params} params, "
              f"{args.rounds} alternating rounds")
        shares = {}
        for prefetch, pairs in totals.items():
            interval = np.mean([p[0] for p in pairs])
            model = np.mean([p[1] for p in pairs])
            shares[prefetch] = 1 - model / interval
            print(f"prefetch {prefetch}: step {interval * 1e3:.2f} ms, in the model {model * 1e3:.2f} ms, "
                  f"outside {shares[prefetch]:.1%}")
        steps = {prefetch: np.mean([p[0] for p in pairs]) for prefetch, pairs in totals.items()}
        print(f"step time with prefetch / without: {steps[2] / steps[0]:.3f}; outside share "
              f"{shares[0]:.1%} -> {shares[2]:.1%}")


if __name__ == "__main__":
    main()
