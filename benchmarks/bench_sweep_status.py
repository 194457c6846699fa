"""Time `sweep status` and `sweep collect` on a synthetic 1,000-cell run folder written in the real file formats.

The folder is made by the run-folder code itself (frozen spec, cell.json, state.json) plus result.json and
metrics.jsonl lines shaped like scaling.train's: 700 done, 100 failed, 100 interrupted, 100 never started.
Reference, timed in the same run: a bare loop that json-loads every cell's result.json (the least any reader does).

    python benchmarks/bench_sweep_status.py [--cells-dir /tmp/bench_sweep_1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from scaling.sweep import RunFolder, collect, parse_spec, sweep_status, write_table

SPEC = {
    "name": "bench1000",
    "dataset": {"emt": {"n": 100000}},
    "axes": {"train_size": [100 * 2 ** k for k in range(10)], "params": [10_000 * 2 ** k for k in range(10)],
             "arch": ["twobody", "threebody"], "seed": [0, 1, 2, 3, 4]},
    "training": {"max_epochs": 20},
}


def synthesise(path: Path) -> RunFolder:
    shutil.rmtree(path, ignore_errors=True)
    folder = RunFolder(path)
    spec = folder.freeze(parse_spec(SPEC))
    cells = spec.cells()
    folder.ensure_cells(cells)
    for k, cell in enumerate(cells):
        cell_dir = folder.cell_dir(cell.cell_id)
        epochs = 20 if k % 10 < 8 else 7
        lines = [json.dumps({"epoch": e, "step": 50 * e, "train_loss": 1.0 / e, "val_loss": 1.1 / e,
                             "val_energy_mae_mev": 30.0 / e, "val_force_mae_mev": 200.0 / e, "val_stress_mae": 0.1,
                             "atoms_per_s": 5e4, "lr": 1e-3, "seconds": 3.0 * e}) for e in range(1, epochs + 1)]
        if k % 10 < 9:
            (cell_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        if k % 10 < 8:
            status = "done" if k % 10 < 7 else "failed"
            result = {"n_params": cell.n_params + 13, "width": 64, "depth": 3, "train_size": cell.train_size,
                      "seed": cell.seed, "arch": cell.arch, "val_loss": 0.05, "test_energy_mae": 0.01,
                      "test_force_mae": 0.1, "test_stress_mae": 0.2, "epochs": epochs, "best_epoch": epochs,
                      "steps": 1000, "status": status, "reason": None if status == "done" else "non-finite loss",
                      "train_seconds": 60.0, "device": "cuda", "params_target": cell.n_params, "cutoff": 5.0}
            (cell_dir / "result.json").write_text(json.dumps(result))
            folder.write_state(cell.cell_id, status, job_id=f"1234_{k}")
        elif k % 10 == 8:
            folder.write_state(cell.cell_id, "running", job_id=f"1234_{k}")  # its job died: interrupted
    return folder


def best_of(fn, repeats=3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells-dir", default="/tmp/bench_sweep_1000")
    args = parser.parse_args()
    folder = synthesise(Path(args.cells_dir))
    ids = folder.cell_ids()
    assert len(ids) == 1000

    reference = best_of(lambda: [json.loads((folder.cell_dir(c) / "result.json").read_text())
                                 for c in ids if (folder.cell_dir(c) / "result.json").is_file()])
    status_s = best_of(lambda: sweep_status(folder.path))
    collect_s = best_of(lambda: collect(folder.path, coverage=False))
    table = collect(folder.path, coverage=False)
    csv_s = best_of(lambda: write_table(table, folder.path / "table.csv"))
    parquet_s = best_of(lambda: write_table(table, folder.path / "table.parquet"))
    counts = sweep_status(folder.path)["counts"]
    assert counts == {"done": 700, "running": 0, "pending": 200, "failed": 100}, counts
    assert len(table) == 1000

    def cli(*argv):
        return lambda: subprocess.run([sys.executable, "-m", "scaling.cli", "-q", "sweep", *argv], check=True,
                                      stdout=subprocess.DEVNULL)

    cli_status_s = best_of(cli("status", str(folder.path), "--json"))
    cli_collect_s = best_of(cli("collect", str(folder.path), "-o", str(folder.path / "t.csv"), "--no-coverage"))
    print("1,000-cell run folder (700 done, 100 failed, 100 interrupted, 100 pending):")
    print(f"  reference: json-load every result.json      {reference * 1e3:8.1f} ms")
    print(f"  sweep_status()                              {status_s * 1e3:8.1f} ms  ({status_s / reference:.1f}x reference)")
    print(f"  collect() (no coverage)                     {collect_s * 1e3:8.1f} ms  ({collect_s / reference:.1f}x reference)")
    print(f"  write CSV / Parquet                         {csv_s * 1e3:8.1f} / {parquet_s * 1e3:.1f} ms")
    print(f"  `scaling sweep status --json` (process)     {cli_status_s * 1e3:8.1f} ms")
    print(f"  `scaling sweep collect -o t.csv` (process)  {cli_collect_s * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
