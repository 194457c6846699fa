"""`scaling fit` as a whole process on BNSL's 14 fitted points: wall and CPU time (user + sys) of fresh processes,
beside `python -c "import numpy"` measured in the same run (the floor every fit pays), as medians over repeats.

Two forms: the 14 rows as a CSV, and the full file with `--where "split == 'fit'"` (the filter is evaluated by
scaling.analysis.where, so it no longer imports pandas). CPU time is the figure to read on a loaded machine, where
wall time mostly measures the wait for a core.
Usage: python benchmarks/bench_fit_startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("SCALING_REFERENCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "reference-data"))


def _run(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    repeats = parser.parse_args().repeats
    source = DATA / "bnsl_4digit_addition.csv"
    with tempfile.TemporaryDirectory() as folder:
        lines = source.read_text().splitlines()
        rows14 = Path(folder) / "bnsl14.csv"
        rows14.write_text("\n".join([lines[0], *[line for line in lines[1:] if line.endswith(",fit")]]) + "\n")
        fit = ["-m", "scaling.cli", "fit", "--x", "dataset_size", "--y", "test_cross_entropy", "--law", "broken"]
        cases = {
            "python -c 'import numpy'": ["-c", "import numpy"],
            "scaling fit (14-row CSV)": [*fit, str(rows14)],
            "scaling fit --where": [*fit, str(source), "--where", "split == 'fit'"],
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(repeats):  # interleaved, so the machine's load hits every case alike
            for name, argv in cases.items():
                times[name].append(_run(argv))
    floor = statistics.median(cpu for _, cpu in times["python -c 'import numpy'"])
    print(f"{repeats} repeats, medians (min)")
    for name, values in times.items():
        wall = [w for w, _ in values]
        cpu = [c for _, c in values]
        print(f"{name:<26} wall {statistics.median(wall):.3f} s ({min(wall):.3f})   CPU {statistics.median(cpu):.3f} s "
              f"({min(cpu):.3f})   CPU / numpy import {statistics.median(cpu) / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
