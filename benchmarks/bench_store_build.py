"""Parallel store builds (`scaling data build --workers W`) and a store of millions of structures.

    python benchmarks/bench_store_build.py --ratio [--n 20000] [--source POOL.extxyz] [--workdir DIR]
    python benchmarks/bench_store_build.py --synthetic 1000000 [--reference 20000] [--workers 2] [--workdir DIR]
    python benchmarks/bench_store_build.py --synthetic 200000 --replicate 5   # 1M joined from 5 copies of 200k

--ratio: `scaling data build --workers 1` and `--workers 2` on the same extxyz pool of --n structures (--source,
    or random configurations written by this script), run one after the other as whole CLI processes; prints both
    wall times and their ratio, the peak resident memory of the largest build process in both, and checks that
    the stores are equal; and, as the reference, the speed-up two CPU-bound processes get on the machine now.
--synthetic N: a store of N random configurations (8-64 atoms on a jittered grid, 16.5 A^3 per atom, random
    triclinic strain within 10%, elements Al/Cu/Ni/Pd, random labels) generated inside the workers (no source
    file), and one of --reference structures of the same generator. For both: build time, size on disk, open time
    (GraphStore(path) in a fresh process), latency of random batches of 32 (store.batch), and a training process
    (a tiny twobody model, --steps steps on random batches of 32 drawn from the whole store): its peak resident
    memory (VmHWM, which counts the store pages it mapped) and its peak anonymous memory (RssAnon, its own).
    The two stores' children run alternately, so machine load hits them alike. --replicate K joins K copies of
    the --synthetic store (scaling.data.merge) and probes that instead: real file sizes and index ranges of K x N
    structures where building K x N would take too long (build time then projected from the measured rate).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPECIES = (13, 29, 28, 46)  # Al, Cu, Ni, Pd
VOLUME_PER_ATOM = 16.5  # A^3, about fcc Cu-Ni-Al: ~30 neighbours within 5 A, like the EMT pool


@dataclass(frozen=True)
class SyntheticChunk:
    """Structures start..start+count of the synthetic sequence (each a function of (seed, k) only)."""

    seed: int
    start: int
    count: int

    def read(self):  # not validated: the jittered grid keeps atoms at least 1.2 A apart
        return [synthetic_structure(self.seed, k) for k in range(self.start, self.start + self.count)]


def synthetic_structure(seed: int, k: int):
    from scaling.data.structures import Structure

    rng = np.random.default_rng([seed, k])
    n = int(rng.integers(8, 65))
    m = math.ceil(n ** (1 / 3))
    sites = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3)
    frac = (sites[rng.choice(len(sites), n, replace=False)] + 0.5 + rng.uniform(-0.15, 0.15, (n, 3))) / m
    strain = rng.uniform(-0.1, 0.1, (3, 3))
    cell = (n * VOLUME_PER_ATOM) ** (1 / 3) * (np.eye(3) + (strain + strain.T) / 2)
    numbers = rng.choice(SPECIES, n)
    stress = rng.normal(0, 1, (3, 3))
    return Structure(
        numbers=numbers, positions=frac @ cell, cell=cell, pbc=[True, True, True],
        energy=float(-3.5 * n + rng.normal(0, 0.1 * n)), forces=rng.normal(0, 0.5, (n, 3)),
        stress=(stress + stress.T) / 2, provenance={"source": "synthetic", "frame": k, "calculator": "synthetic",
                                                    "settings": {}, "info": {}},
        id=f"synthetic-{seed}-{k}",
    )


def synthetic_chunks(n: int, seed: int = 0, size: int = 500):
    return [SyntheticChunk(seed, start, min(size, n - start)) for start in range(0, n, size)]


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def scaling_cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from scaling.cli import main; sys.exit(main(sys.argv[1:]))", *args]


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds of a child process and its peak resident memory (MB)."""
    start = time.perf_counter()
    pid = subprocess.Popen(argv).pid
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({status})")
    return seconds, usage.ru_maxrss / 1024


def _spin(n: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - start


def machine_parallelism(n: int = 20_000_000) -> float:
    """What this machine gives two CPU-bound processes now: (2 x one loop alone) / (two loops at once)."""
    import multiprocessing

    one = _spin(n)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        start = time.perf_counter()
        pool.map(_spin, [n, n])
        two = time.perf_counter() - start
    return 2 * one / two


def ratio(args) -> None:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    source = Path(args.source) if args.source else work / f"synthetic-{args.n}.extxyz"
    if not source.exists():
        from scaling.data.io import write_extxyz

        start = time.perf_counter()
        write_extxyz([s for c in synthetic_chunks(args.n) for s in c.read()], source)
        print(f"[source] wrote {args.n} random configurations to {source} in {time.perf_counter() - start:.0f} s")
    times = {}
    before = machine_parallelism()
    for workers in (1, 2):
        out = work / f"store-w{workers}"
        times[workers] = timed(scaling_cli("-q", "data", "build", str(source), "--cutoff", str(args.cutoff),
                                           "--workers", str(workers), "--out", str(out), "--force"))
        print(f"[build] --workers {workers}: {times[workers][0]:.1f} s wall, peak RSS of the largest process "
              f"{times[workers][1]:.0f} MB", flush=True)
    same = all(filecmp.cmp(work / "store-w1" / p.name, p, shallow=False) for p in (work / "store-w2").iterdir())
    print(f"[build] {source.name}: --workers 1 {times[1][0]:.1f} s, --workers 2 {times[2][0]:.1f} s, "
          f"ratio {times[1][0] / times[2][0]:.2f}x; stores byte-identical: {same}")
    print(f"[machine] two CPU-bound processes ran {before:.2f}x / {machine_parallelism():.2f}x as fast as one "
          "(before / after the builds): the most --workers 2 can gain now (2.00 on 2 idle cores)")


def build_synthetic(n: int, workers: int, cutoff: float, out: Path) -> None:
    from scaling.data.build import build_from_chunks

    if (out / "manifest.json").is_file():
        print(f"[build] {out} exists, kept")
        return
    start = time.perf_counter()
    build_from_chunks(synthetic_chunks(n), out, cutoff, workers=workers, force=True,
                      manifest={"source": f"synthetic:{n}"})
    seconds = time.perf_counter() - start
    size = disk_bytes(out)
    manifest = json.loads((out / "manifest.json").read_text())
    print(f"[build] {n} structures, {manifest['n_edges']} edges, {workers} workers: {seconds:.0f} s "
          f"({n / seconds:.0f} structures/s); {size / 2**30:.2f} GiB on disk ({size / n / 1024:.1f} KiB a structure)",
          flush=True)


def join_copies(store: Path, copies: int, out: Path) -> None:
    """A store of `copies` x the structures of `store` (scaling.data.merge, as `scaling data merge` does)."""
    from scaling.data.merge import merge_stores

    if (out / "manifest.json").is_file():
        print(f"[join] {out} exists, kept")
        return
    start = time.perf_counter()
    merge_stores([store] * copies, out, force=True)
    seconds = time.perf_counter() - start
    size = disk_bytes(out)
    n = json.loads((out / "manifest.json").read_text())["n_structures"]
    print(f"[join] {copies} copies of {store.name}: {n} structures, {size / 2**30:.2f} GiB on disk, joined in "
          f"{seconds:.0f} s ({size / 2**20 / seconds:.0f} MiB/s)", flush=True)


def probe(store_path: str, steps: int) -> None:
    """The child: open time, batch latency, then a tiny model's training steps; one JSON line."""
    import torch

    from scaling.data.store import GraphStore
    from scaling.models.potential import ModelConfig, Potential

    def status(key: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    torch.set_num_threads(1)
    before = status("VmRSS")
    start = time.perf_counter()
    store = GraphStore(store_path)
    n = len(store)
    open_s = time.perf_counter() - start
    open_mb = status("VmRSS") - before
    rng = np.random.default_rng(0)
    latencies = []
    for _ in range(300):
        indices = rng.choice(n, 32, replace=False)
        start = time.perf_counter()
        store.batch(indices)
        latencies.append(time.perf_counter() - start)
    from ase.data import atomic_numbers

    model = Potential(ModelConfig(arch="twobody", width=16, elements=[atomic_numbers[e] for e in store.elements],
                                  cutoff=store.cutoff, options={"depth": 2}))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    anon_peak = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        batch = store.batch(rng.choice(n, 32, replace=False))
        prediction = model(batch, forces=True, stress=False, create_graph=True)
        loss = ((prediction.energy - batch.energy) ** 2).mean() + ((prediction.forces - batch.forces) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        anon_peak = max(anon_peak, status("RssAnon"))
    step_ms = 1e3 * (time.perf_counter() - start) / steps
    print(json.dumps({"n": n, "open_s": open_s, "open_mb": open_mb, "batch_ms": 1e3 * float(np.median(latencies)),
                      "batch_p99_ms": 1e3 * float(np.percentile(latencies, 99)), "step_ms": step_ms,
                      "peak_rss_mb": status("VmHWM"), "peak_anon_mb": anon_peak}))


def scale(args) -> None:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    stores = {args.reference: work / f"synthetic-store-{args.reference}", args.synthetic:
              work / f"synthetic-store-{args.synthetic}"}
    for n, path in stores.items():
        build_synthetic(n, args.workers, args.cutoff, path)
    if args.replicate > 1:
        big = args.synthetic * args.replicate
        stores[big] = work / f"synthetic-store-{args.synthetic}x{args.replicate}"
        join_copies(stores[args.synthetic], args.replicate, stores[big])
        del stores[args.synthetic]
        args.synthetic = big
    rows = {n: [] for n in stores}
    for _ in range(args.repeats):
        for n, path in stores.items():
            out = subprocess.run([sys.executable, __file__, "--probe", str(path), "--steps", str(args.steps)],
                                 check=True, capture_output=True, text=True).stdout
            rows[n].append(json.loads(out.strip().splitlines()[-1]))
    for n, runs in rows.items():
        mean = {key: float(np.median([r[key] for r in runs])) for key in runs[0] if key != "n"}
        print(f"[store {n}] open {mean['open_s'] * 1e3:.1f} ms (+{mean['open_mb']:.1f} MB RSS); batch of 32 "
              f"{mean['batch_ms']:.2f} ms median (p99 {mean['batch_p99_ms']:.2f}); {args.steps} training steps "
              f"{mean['step_ms']:.1f} ms/step; peak RSS {mean['peak_rss_mb']:.0f} MB, peak anonymous "
              f"{mean['peak_anon_mb']:.0f} MB  (median of {len(runs)})")
    small, big = (rows[args.reference], rows[args.synthetic])
    for key in ("open_s", "batch_ms", "peak_rss_mb", "peak_anon_mb"):
        a, b = np.median([r[key] for r in small]), np.median([r[key] for r in big])
        print(f"[ratio] {key}: {args.synthetic} / {args.reference} = {b / a:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratio", action="store_true", help="--workers 1 vs 2 on the same pool")
    parser.add_argument("--n", type=int, default=20000, help="pool size for --ratio")
    parser.add_argument("--source", default=None, help="an extxyz pool for --ratio (default: random configurations)")
    parser.add_argument("--synthetic", type=int, default=None, help="size of the large synthetic store")
    parser.add_argument("--reference", type=int, default=20000, help="size of the reference synthetic store")
    parser.add_argument("--workers", type=int, default=2, help="build processes for --synthetic")
    parser.add_argument("--replicate", type=int, default=1,
                        help="probe K copies of the --synthetic store joined into one (K x N structures)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per probe")
    parser.add_argument("--repeats", type=int, default=2, help="probe runs per store (alternating)")
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--workdir", default="/tmp/bench-store-build")
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe, args.steps)
    elif args.ratio:
        ratio(args)
    elif args.synthetic:
        scale(args)
    else:
        parser.error("give --ratio or --synthetic N")


if __name__ == "__main__":
    main()
