"""EMT pool build time: N structures on W workers, against 1 worker on a small pool timed in the same run.

    python benchmarks/bench_data_emt.py --n 20000 --workers 2 [--out FILE.extxyz]

Prints structures/s for both, the parallel speed-up, and the time for 20,000 structures (measured when --n 20000,
extrapolated otherwise). Nothing is cached: the generator is called directly, then the file is written once.
"""

from __future__ import annotations

import argparse
import os
import time

from scaling.data.emt import generate
from scaling.data.io import write_extxyz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reference-n", type=int, default=200, help="structures for the 1-worker reference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the pool here (extxyz)")
    args = parser.parse_args()

    start = time.perf_counter()
    generate(args.reference_n, seed=args.seed + 1, workers=1)
    reference = time.perf_counter() - start

    start = time.perf_counter()
    pool = generate(args.n, seed=args.seed, workers=args.workers)
    elapsed = time.perf_counter() - start
    write_seconds = 0.0
    if args.out:
        start = time.perf_counter()
        write_extxyz(pool, args.out)
        write_seconds = time.perf_counter() - start

    rate_1 = args.reference_n / reference
    rate_w = args.n / elapsed
    print(f"cores available: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")
    print(f"1 worker : {args.reference_n} structures in {reference:.1f} s = {rate_1:.1f} structures/s")
    print(f"{args.workers} workers: {args.n} structures in {elapsed:.1f} s = {rate_w:.1f} structures/s"
          f" (speed-up {rate_w / rate_1:.2f}x over 1 worker)")
    if args.out:
        print(f"writing extxyz: {write_seconds:.1f} s")
    label = "measured" if args.n == 20000 else "extrapolated"
    print(f"20,000 structures: {20000 / rate_w + write_seconds * 20000 / args.n:.0f} s ({label}; limit 600 s)")


if __name__ == "__main__":
    main()
