"""Cost of coverage: descriptors, the codebook fit, a subset's coverage and the coverage sampler's ordering.

Reference timed in the same run: building the graph store (neighbour lists) of the same structures, so the ratio
says what coverage adds to data preparation.

    python benchmarks/bench_coverage_codebook.py [--n 2000] [--store DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from scaling.data.coverage import CodebookSettings, atom_descriptors, coverage_order, load_codebook
    from scaling.data.emt import generate
    from scaling.data.store import build_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_coverage_"))
    structures = generate(args.n, seed=0)
    n_atoms = sum(s.n_atoms for s in structures)
    start = time.perf_counter()
    store = build_store(None, work / "store", cutoff=5.0, structures=structures)
    build = time.perf_counter() - start

    start = time.perf_counter()
    atom_descriptors(store)
    describe = time.perf_counter() - start
    start = time.perf_counter()
    codebook = load_codebook(store, CodebookSettings())
    fit = time.perf_counter() - start
    start = time.perf_counter()
    load_codebook(store, CodebookSettings())
    cached = time.perf_counter() - start
    start = time.perf_counter()
    codebook.coverage(np.arange(args.n // 2))
    one_subset = time.perf_counter() - start
    start = time.perf_counter()
    coverage_order(np.arange(args.n), 0, store)
    order = time.perf_counter() - start
    shutil.rmtree(work)

    print(f"{args.n} structures, {n_atoms} atoms, cutoff 5.0 A")
    print(f"store build (reference)     {build:8.2f} s")
    print(f"descriptors                 {describe:8.2f} s  ({n_atoms / describe:,.0f} atoms/s, {describe / build:.2f}x build)")
    print(f"codebook fit (incl. desc.)  {fit:8.2f} s  ({fit / build:.2f}x build)")
    print(f"codebook from cache         {cached:8.3f} s")
    print(f"coverage of one subset      {one_subset * 1e3:8.2f} ms")
    print(f"coverage sampler ordering   {order:8.2f} s  ({order / build:.2f}x build)")


if __name__ == "__main__":
    main()
