"""The sweep planner's time estimate against the measured train time of every cell, in one run, back to back.

    python benchmarks/bench_planner.py [--spec experiments/smoke.yaml] [--flops experiments/demo.yaml]
    python benchmarks/bench_planner.py --run-dir runs/demo     # a finished `scaling sweep run` folder

Runs the sweep into a fresh temporary folder with the spec's executor (`run_sweep` plans it first, on the pool its
preflight read, and saves the plan as RUN_DIR/plan.json, as `scaling sweep run` does), or takes a finished run
folder with --run-dir, and compares each cell's estimated `train_seconds` (wall) and `device_seconds` (CPU seconds
on CPU) in plan.json with those its result.json measured: ratio = max(estimate / measured, measured / estimate).
Targets: median <= 1.35, worst <= 2. The measured time is result.json's train_seconds (the training loop, its
validation passes and checkpoint writes), not the cell's whole wall time: that is what the planner's cost model
sums, while the whole time adds a worker's start-up, the data loading and the test evaluation (planned apart, as
test_seconds), which depend on the executor and the machine's load rather than on the cell. With
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
from scaling.sweep.plan import PLAN_FILE, _execution, _probe, _probe_key, _sample
from scaling.sweep.runfolder import RunFolder, read_json

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def planner_vs_measured(spec_path: Path) -> None:
    """Run the spec into a fresh temporary folder (its plan saved as plan.json, as `sweep run` does) and compare."""
    spec = load_spec(spec_path)
    with tempfile.TemporaryDirectory(prefix="bench-planner-") as tmp:
        run_dir = Path(tmp) / "run"
        print(f"{spec.name}: {len(spec.cells())} cells; load average before: {load()}")
        began = time.perf_counter()
        report = run_sweep(spec, run_dir, announce=print)
        print(f"plan and sweep {time.perf_counter() - began:.1f} s wall; {report.counts}; load average after: {load()}")
        compare_run(run_dir)


def compare_run(run_dir: Path) -> None:
    """Each cell's planned train_seconds (wall) and device_seconds (CPU) in RUN_DIR/plan.json against its
    result.json: ratio = max(estimate / measured, measured / estimate), median and worst. A cell the plan lists as
    done already (a resumed run) or that has no result is left out, and said so."""
    saved = read_json(run_dir / PLAN_FILE)
    if saved is None:
        raise SystemExit(f"{run_dir / PLAN_FILE}: missing or unreadable (made by `scaling sweep run`)")
    table = collect(run_dir, coverage=False).set_index("cell_id")
    print(f"{run_dir}: plan of {saved.get('planned_at', '?')} ({saved['executor']}, {saved['workers']} at once, "
          f"{saved['threads_per_cell']} thread(s) each, {saved['device']}; probe on {saved['data']})")
    ratios: dict[str, list[float]] = {"train_seconds": [], "device_seconds": []}
    sums = {name: [0.0, 0.0] for name in ratios}
    skipped = []
    print(f"{'cell':34s} {'wall est':>8s} {'measured':>8s} {'ratio':>5s} {'CPU est':>8s} {'measured':>8s} "
          f"{'ratio':>5s}")
    memory = []
    for cell in saved["cells"]:
        cell_id = cell["cell_id"]
        if cell["status"] != "todo" or cell_id not in table.index or table.loc[cell_id, "status"] != "done":
            skipped.append(f"{cell_id} ({cell['status']} in the plan)")
            continue
        row = [cell_id[:34]]
        for name in ratios:
            estimate, measured = float(cell[name]), float(table.loc[cell_id, name])
            ratios[name].append(max(estimate / measured, measured / estimate))
            sums[name][0] += estimate
            sums[name][1] += measured
            row.append(f"{estimate:8.2f} {measured:8.2f} {ratios[name][-1]:5.2f}")
        memory.append((cell["peak_rss_mb"], float(table.loc[cell_id, "peak_rss_mb"])))
        print(" ".join(row))
    if skipped:
        print(f"left out ({len(skipped)}): " + ", ".join(skipped))
    if not memory:
        raise SystemExit(f"{run_dir}: no cell both planned and done: nothing to compare")
    print("peak RSS MB, estimate vs measured: " + ", ".join(f"{e:.0f}/{m:.0f}" for e, m in memory))
    for name, label in (("train_seconds", "wall (train_seconds)"), ("device_seconds", "CPU (device_seconds)")):
        estimate, measured = sums[name]
        print(f"{label}: {len(ratios[name])} cells, median ratio {statistics.median(ratios[name]):.2f} "
              f"(target <= 1.35), worst {max(ratios[name]):.2f} (target <= 2); sum of estimates {estimate:.1f} s vs "
              f"measured {measured:.1f} s")


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
        cells = {_probe_key(cell): cell for cell in spec.cells()}  # one per (arch, its options, N)
        for cell in cells.values():
            probe = _probe(spec, cell, sample, device, threads, Path(tmp))
            flops = probe.flops_per_structure * batch
            wall, cpu = (timing.step[0] + timing.step[1] * batch for timing in (probe.wall, probe.cpu))
            print(f"{cell.arch:10s} {probe.n_params:7d} {f'{probe.width} x {probe.depth}':>13s} {flops:11.3g} "
                  f"{wall:8.4f} {cpu:8.4f} {flops / cpu / 1e9:11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default=str(ROOT / "experiments" / "smoke.yaml"))
    parser.add_argument("--flops", default=None, help="also print FLOPs per step of this spec's (arch, N)")
    parser.add_argument("--no-sweep", action="store_true", help="only the --flops table")
    parser.add_argument("--run-dir", default=None, metavar="DIR",
                        help="compare the plan.json of this finished run folder with its cells' measured times "
                             "(trains nothing)")
    args = parser.parse_args()
    if args.run_dir:
        compare_run(Path(args.run_dir))
    elif not args.no_sweep:
        planner_vs_measured(Path(args.spec))
    if args.flops:
        flops_per_step(Path(args.flops))


if __name__ == "__main__":
    main()
