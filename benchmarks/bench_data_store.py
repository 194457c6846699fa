"""Graph store: build rate, batch latency, one epoch from the store vs neighbour lists on the fly, resident memory.

    python benchmarks/bench_data_store.py --source POOL.extxyz [--cutoff 5.0] [--ase-n 2000]

1. build rate: reading the source, then neighbour lists + flat arrays (structures/s);
2. a batch of 16 random structures: store.batch vs Batch.from_data_list([store[i] ...]) (ms);
3. one epoch in batches of 16 over the first --ase-n structures: from the store vs ase.neighborlist on the fly
   building the same Data objects (same run, same structures), and the whole pool's epoch from the store;
4. a training-like child process (memory-mapped store, one epoch of a small distance MLP with forces by autograd):
   peak resident memory (VmHWM). `--train-like STORE` runs only this step on an existing store.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build(source: str, cutoff: float, out: Path):
    import vesin  # noqa: F401  (imports torch: a one-time cost kept out of the rates)

    from scaling.data.io import read_structures
    from scaling.data.store import build_store

    start = time.perf_counter()
    structures = read_structures(source)
    read_seconds = time.perf_counter() - start
    start = time.perf_counter()
    build_store(source, out, cutoff, structures=structures)
    build_seconds = time.perf_counter() - start
    n = len(structures)
    print(f"[build] {n} structures: read+validate {read_seconds:.1f} s ({n / read_seconds:.0f}/s), "
          f"neighbour lists + write {build_seconds:.1f} s ({n / build_seconds:.0f} structures/s), "
          f"total {n / (read_seconds + build_seconds):.0f} structures/s")
    return structures


def batch_latency(store, repeats: int = 2000) -> None:
    from torch_geometric.data import Batch

    rng = np.random.default_rng(0)
    picks = [rng.choice(len(store), 16, replace=False) for _ in range(repeats)]
    for indices in picks[:50]:
        store.batch(indices)
    times = []
    for indices in picks:
        start = time.perf_counter()
        store.batch(indices)
        times.append(time.perf_counter() - start)
    slow = []
    for indices in picks[:200]:
        start = time.perf_counter()
        Batch.from_data_list([store[i] for i in indices])
        slow.append(time.perf_counter() - start)
    fast_ms, slow_ms = 1e3 * np.median(times), 1e3 * np.median(slow)
    print(f"[batch16] store.batch median {fast_ms:.3f} ms (p99 {1e3 * np.percentile(times, 99):.3f} ms); "
          f"Batch.from_data_list(store[i]) {slow_ms:.3f} ms; ratio {slow_ms / fast_ms:.1f}x")


def on_the_fly_batch(structures, cutoff: float):
    """What a loader without a store does per batch: ase neighbour lists, then PyG collation."""
    import torch
    from ase.neighborlist import neighbor_list
    from torch_geometric.data import Batch, Data

    graphs = []
    for s in structures:
        atoms = s.to_atoms()
        i, j, shift = neighbor_list("ijS", atoms, cutoff)
        graphs.append(Data(
            z=torch.from_numpy(s.numbers), pos=torch.from_numpy(s.positions.astype(np.float32)),
            cell=torch.from_numpy(s.cell.astype(np.float32)).unsqueeze(0),
            pbc=torch.from_numpy(s.pbc).unsqueeze(0),
            edge_index=torch.from_numpy(np.stack([j, i]).astype(np.int64)),
            cell_shift=torch.from_numpy(shift.astype(np.float32)),
            energy=torch.tensor([s.energy], dtype=torch.float32),
            forces=torch.from_numpy(s.forces.astype(np.float32)),
            stress=torch.from_numpy((s.stress if s.stress is not None else np.zeros((3, 3))).astype(np.float32))[None],
            has_stress=torch.tensor([s.stress is not None]),
        ))
    return Batch.from_data_list(graphs)


def batches(store, n: int, shuffle: bool = False):
    """One epoch over the first n structures in batches of 16, as training draws them (StoreSet, epoch_order)."""
    from scaling.train.data import StoreSet
    from scaling.train.loop import epoch_order

    view = StoreSet(store, np.arange(n))
    order = epoch_order(n, seed=0, epoch=0) if shuffle else np.arange(n)
    for start in range(0, n, 16):
        yield view.batch(order[start : start + 16])


def epoch(store, structures, cutoff: float, n: int) -> None:
    n = min(n, len(store))
    start = time.perf_counter()
    for _ in batches(store, n):
        pass
    store_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for begin in range(0, n, 16):
        on_the_fly_batch(structures[begin : begin + 16], cutoff)
    ase_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for _ in batches(store, len(store), shuffle=True):
        pass
    full = time.perf_counter() - start
    print(f"[epoch] {n} structures in batches of 16: store {store_seconds:.2f} s, ase on the fly {ase_seconds:.2f} s; "
          f"store is {ase_seconds / store_seconds:.0f}x faster")
    print(f"[epoch] whole pool ({len(store)} structures, shuffled) from the store: {full:.2f} s")


def train_like(path: str) -> None:
    """Child process: a small distance MLP trained on energies and forces for one epoch, memory-mapped store."""
    import torch

    from scaling.data.store import GraphStore

    torch.set_num_threads(1)
    store = GraphStore(path)
    model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.SiLU(), torch.nn.Linear(64, 1))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    centres = torch.linspace(0.5, store.cutoff, 8)
    start = time.perf_counter()
    for batch in batches(store, len(store), shuffle=True):
        batch.pos.requires_grad_(True)
        j, i = batch.edge_index
        vectors = batch.pos[j] - batch.pos[i] + torch.einsum("ek,ekl->el", batch.cell_shift, batch.cell[batch.batch[i]])
        features = torch.exp(-((vectors.norm(dim=1, keepdim=True) - centres) ** 2))
        atom_energy = torch.zeros(batch.num_nodes).index_add(0, i, model(features).squeeze(1))
        energy = torch.zeros(batch.num_graphs).index_add(0, batch.batch, atom_energy)
        forces = -torch.autograd.grad(energy.sum(), batch.pos, create_graph=True)[0]
        loss = ((energy - batch.energy) ** 2).mean() + ((forces - batch.forces) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    seconds = time.perf_counter() - start
    print(f"[memory] training-like epoch over {len(store)} structures: {seconds:.1f} s, "
          f"peak RSS {_peak_rss_mib():.0f} MiB (store files {_folder_mib(store.path):.0f} MiB, all mapped)")


def _peak_rss_mib() -> float:
    """VmHWM: this process's peak resident memory since exec (ru_maxrss would include the forking parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _folder_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", help="an extxyz pool, e.g. from `scaling data emt` (required without --train-like)")
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--ase-n", type=int, default=2000)
    parser.add_argument("--train-like", metavar="STORE", help="only step 4, on an existing store")
    args = parser.parse_args()
    if args.train_like:
        train_like(args.train_like)
        return
    if not args.source:
        parser.error("--source POOL.extxyz is required (or --train-like STORE)")
    from scaling.data.store import GraphStore

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store"
        structures = build(args.source, args.cutoff, path)
        store = GraphStore(path)
        batch_latency(store)
        epoch(store, structures, args.cutoff, args.ase_n)
        del structures
        subprocess.run([sys.executable, __file__, "--train-like", str(path)], check=True)


if __name__ == "__main__":
    main()
