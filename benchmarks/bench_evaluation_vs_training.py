"""Evaluation time per cell beside training time, on a corner of the demo grid with the default `evaluation:` preset.

The demo's dataset, cutoff, split and training budget (experiments/demo.yaml) on a sub-grid (both architectures,
the smallest and largest N, D = 20 and 160 by default), each cell evaluated with emt-light after training, in one
local sweep: training and evaluation share the worker, the machine and its load, so the ratio eval/train is fair.

    python benchmarks/bench_evaluation_vs_training.py [--train-size 20 160] [--params 1300 16000] [--suite emt-light]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from scaling.sweep import collect, run_sweep
    from scaling.sweep.spec import parse_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, nargs="+", default=[20, 160])
    parser.add_argument("--params", type=int, nargs="+", default=[1300, 16000])
    parser.add_argument("--suite", default="emt-light")
    parser.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()
    spec = yaml.safe_load((REPO / "experiments" / "demo.yaml").read_text())
    spec["name"] = "bench-eval"
    spec["axes"].update(train_size=args.train_size, params=args.params, seed=[0])
    spec["evaluation"] = {"suite": args.suite}
    run_dir = Path(args.out or tempfile.mkdtemp(prefix="bench_eval_")) / "run"
    started = time.perf_counter()
    run_sweep(parse_spec(spec, "bench"), run_dir, executor="local", wait=True)
    wall = time.perf_counter() - started
    table = collect(run_dir, coverage=False)
    print(f"{'arch':10s} {'N':>6s} {'D':>5s} {'train s':>8s} {'eval s':>7s} {'eval/train':>10s}")
    for row in table.itertuples():
        print(f"{row.arch:10s} {row.n_params:6d} {row.train_size:5d} {row.train_seconds:8.1f} {row.eval_seconds:7.1f}"
              f" {row.eval_seconds / row.train_seconds:10.2f}")
    total_train, total_eval = table["train_seconds"].sum(), table["eval_seconds"].sum()
    print(f"total: train {total_train:.0f} s, evaluation {total_eval:.0f} s, ratio {total_eval / total_train:.2f}; "
          f"sweep wall {wall:.0f} s ({len(table)} cells, suite {args.suite})")


if __name__ == "__main__":
    main()
