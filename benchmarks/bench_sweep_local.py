"""Local executor: per-cell overhead (submission -> first training step) and CPU utilisation of a local sweep.

A sweep of small real cells (EMT data, twobody/threebody, a few epochs) runs with max_parallel = cores.
Per cell, from the states the runner writes:
  overhead = first_step_at - max(submitted_at, when its worker finished the previous cell)
(the time a cell waits on the executor itself, not on busy workers), split into dispatch (-> worker picks it)
and startup (worker -> first optimiser step: settings, subset, model, checkpoint 0).
Utilisation = CPU seconds of the workers / (wall seconds of the sweep phase x cores), and the busy fraction =
time workers spend inside cells / (wall x workers), which does not depend on other load on the machine.
Reference, timed in the same run: a fresh interpreter importing the training stack (what a process-per-cell
executor would pay per cell before any work).

    python benchmarks/bench_sweep_local.py [--cells 12] [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scaling.sweep import parse_spec, run_sweep
from scaling.system import available_cores
from scaling.sweep.runfolder import RunFolder


def spec(cells: int, epochs: int) -> dict:
    sizes = [20, 40, 60][: max(1, cells // 4)]
    return {
        "name": "bench_local",
        "dataset": {"emt": {"n": 120, "seed": 0}, "cutoff": 4.0},
        "split": {"val_fraction": 0.15, "test_fraction": 0.15},
        "axes": {"train_size": sizes, "params": [1300], "arch": ["twobody", "threebody"], "seed": [0, 1]},
        "training": {"max_epochs": epochs, "batch_size": 4, "eval_batch_size": 32, "patience": 100,
                     "warmup_steps": 5, "checkpoint_every_steps": 10},
        "executor": {"kind": "local", "local": {"max_parallel": available_cores()}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    cores = available_cores()

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import scaling.train"], check=True)
    fresh_import = time.perf_counter() - start

    run_dir = Path(tempfile.mkdtemp(prefix="bench_sweep_local_"))
    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    report = run_sweep(parse_spec(spec(args.cells, args.epochs)), run_dir)
    wall_total = time.time() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert report.counts["done"] == len(report.submitted), report.counts

    folder = RunFolder(run_dir)
    states = [folder.read_state(c) for c in folder.cell_ids()]
    by_worker: dict[int, list[dict]] = {}
    for state in states:
        by_worker.setdefault(state["pid"], []).append(state)
    overheads, dispatch, startup, first_cells = [], [], [], []
    for cells in by_worker.values():
        cells.sort(key=lambda s: s["picked_at"])
        previous_end = None
        for state in cells:
            ready = max(state["submitted_at"], previous_end or 0.0)
            overheads.append(state["first_step_at"] - ready)
            dispatch.append(state["picked_at"] - ready)
            startup.append(state["first_step_at"] - state["picked_at"])
            if previous_end is None:
                first_cells.append(state["first_step_at"] - ready)
            previous_end = state["finished_at"]
    sweep_start = min(s["submitted_at"] for s in states)
    sweep_end = max(s["finished_at"] for s in states)
    sweep_wall = sweep_end - sweep_start
    worker_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    busy = sum(s["finished_at"] - s["picked_at"] for s in states)
    train_cpu = sum(folder.read_result(c)["cpu_seconds"] for c in folder.cell_ids())
    workers = len(by_worker)
    shutil.rmtree(run_dir, ignore_errors=True)

    def stats(values):
        return f"mean {sum(values) / len(values):5.2f} s, max {max(values):5.2f} s"

    print(f"local sweep: {len(states)} cells, {workers} workers on {cores} cores, load average before "
          f"{load_before:.1f}; whole run {wall_total:.1f} s (incl. data), sweep phase {sweep_wall:.1f} s")
    print(f"  overhead submission -> first step: {stats(overheads)}  (first cell per worker: {stats(first_cells)})")
    print(f"    dispatch {stats(dispatch)}; startup in worker {stats(startup)}")
    print(f"  reference: fresh interpreter importing scaling.train: {fresh_import:.2f} s "
          f"(mean overhead = {sum(overheads) / len(overheads) / fresh_import:.2f}x that)")
    print(f"  CPU utilisation of the sweep phase: {train_cpu / (sweep_wall * cores):.0%} of {cores} cores by the cells' "
          f"own CPU time ({train_cpu:.1f} s); all worker CPU incl. imports / whole run: "
          f"{worker_cpu / (wall_total * cores):.0%}; busy fraction {busy / (sweep_wall * workers):.0%}")


if __name__ == "__main__":
    main()
