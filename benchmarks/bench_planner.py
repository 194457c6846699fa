"""The sweep planner's time estimate against the measured train time of every cell, in one run, back to back.

    python benchmarks/bench_planner.py [--spec experiments/smoke.yaml] [--flops experiments/demo.yaml]

Plans the sweep (the probe times real training steps on this machine), then runs it into a fresh temporary folder
with the spec's executor and compares each cell's estimated `train_seconds` (wall) and `device_seconds` (CPU
seconds on CPU) with those its result.json measured: ratio = max(estimate / measured, measured / estimate). Targets: median <= 1.35, worst <= 2. With
`--flops SPEC`, also prints the FLOPs (FlopCounterMode) and probed seconds of one training step of each
(arch, N) of that spec, without training it. Prints the load average before and after: on a loaded machine the
ratios are degraded, so record the load with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from scaling.sweep import collect, load_spec, run_sweep
from scaling.sweep.plan import _execution, _probe, _sample, plan_sweep
from scaling.sweep.runfolder import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def planner_vs_measured(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    with tempfile.TemporaryDirectory(prefix="bench-planner-") as tmp:
        run_dir = Path(tmp) / "run"
        print(f"{spec.name}: {len(spec.cells())} cells; load average before: {load()}")
        began = time.perf_counter()
        plan = plan_sweep(spec, run_dir=run_dir)
        plan_seconds = time.perf_counter() - began
        began = time.perf_counter()
        report = run_sweep(spec, run_dir)
        sweep_seconds = time.perf_counter() - began
        table = collect(run_dir, coverage=False).set_index("cell_id")
        print(f"plan {plan_seconds:.1f} s (probe on {plan.data}); sweep {sweep_seconds:.1f} s wall, "
              f"planned {plan.totals['wall_seconds']:.1f} s; {report.counts}; load average after: {load()}")
    ratios: dict[str, list[float]] = {"train_seconds": [], "device_seconds": []}
    print(f"{'cell':34s} {'wall est':>8s} {'measured':>8s} {'ratio':>5s} {'CPU est':>8s} {'measured':>8s} "
          f"{'ratio':>5s}")
    for cell in plan.cells:
        row = [cell.cell_id[:34]]
        for name in ratios:
            estimate, measured = getattr(cell, name), float(table.loc[cell.cell_id, name])
            ratios[name].append(max(estimate / measured, measured / estimate))
            row.append(f"{estimate:8.2f} {measured:8.2f} {ratios[name][-1]:5.2f}")
        print(" ".join(row))
    memory = [(c.peak_rss_mb, float(table.loc[c.cell_id, "peak_rss_mb"])) for c in plan.cells]
    print("peak RSS MB, estimate vs measured: " + ", ".join(f"{e:.0f}/{m:.0f}" for e, m in memory))
    for name, label in (("train_seconds", "wall (train_seconds)"), ("device_seconds", "CPU (device_seconds)")):
        estimate, measured = sum(getattr(c, name) for c in plan.cells), float(table[name].sum())
        print(f"{label}: median ratio {statistics.median(ratios[name]):.2f} (target <= 1.35), worst "
              f"{max(ratios[name]):.2f} (target <= 2); sum of estimates {estimate:.1f} s vs measured {measured:.1f} s")


def flops_per_step(spec_path: Path) -> None:
    """FLOPs and probed time of one training step (a full batch) of every (arch, N) of a spec; nothing trains."""
    import torch

    spec = load_spec(spec_path)
    device, threads, _, _ = _execution(spec, "local", len(spec.cells()))
    torch.set_num_threads(threads)
    batch = int(spec.training.get("batch_size", 16))
    print(f"{spec.name}: one training step of {batch} structures, {threads} thread(s), {device}; load {load()}")
    print(f"{'arch':10s} {'N':>7s} {'width x depth':>13s} {'FLOPs/step':>11s} {'wall s':>8s} {'CPU s':>8s} "
          f"{'GFLOP/CPU s':>11s}")
    with tempfile.TemporaryDirectory(prefix="bench-flops-") as tmp:
        sample = _sample(spec, RunFolder(Path(tmp) / "none"), Path(tmp))
        for arch in spec.axes.arch:
            for params in spec.axes.params:
                probe = _probe(spec, arch, params, sample, device, threads, Path(tmp))
                flops = probe.flops_per_structure * batch
                wall, cpu = (timing.step[0] + timing.step[1] * batch for timing in (probe.wall, probe.cpu))
                print(f"{arch:10s} {probe.n_params:7d} {f'{probe.width} x {probe.depth}':>13s} {flops:11.3g} "
                      f"{wall:8.4f} {cpu:8.4f} {flops / cpu / 1e9:11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default=str(ROOT / "experiments" / "smoke.yaml"))
    parser.add_argument("--flops", default=None, help="also print FLOPs per step of this spec's (arch, N)")
    parser.add_argument("--no-sweep", action="store_true", help="only the --flops table")
    args = parser.parse_args()
    if not args.no_sweep:
        planner_vs_measured(Path(args.spec))
    if args.flops:
        flops_per_step(Path(args.flops))


if __name__ == "__main__":
    main()
