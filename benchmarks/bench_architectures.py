"""MACE (mace-torch) vs the in-house twobody and threebody models at equal parameter count.

Two measurements, both side by side in one run so machine contention hits every architecture alike:

  speed  training steps/s (energy + forces, create_graph) on the same EMT batches, steps interleaved
         (twobody, threebody, mace, twobody, ...); figures are ratios to twobody.
  mae    test energy / force MAE after an equal CPU-time budget per run (`max_cpu_seconds`, one thread), on EMT
         structures (random 80/10/10 split) and on mlearn Mo (its own test file); runs one after the other.

    python benchmarks/bench_architectures.py speed [--params 50000] [--batch-size 8] [--steps 20] [--device cpu|cuda]
    python benchmarks/bench_architectures.py mae [--params 50000] [--cpu-seconds 120] [--emt 1000] [--datasets emt,mo]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from interleaved import time_interleaved
from torch_geometric.data import Batch

from scaling.cli import main as scaling
from scaling.data.emt import generate
from scaling.models.graph import atoms_to_data
from scaling.models.potential import ModelConfig, Potential
from scaling.models.sizing import size_model
from scaling.reference import reference_data_dir

ARCHS = ("twobody", "threebody", "mace")


def train_step(model: Potential, optimizer, batch: Batch) -> None:
    prediction = model(batch, forces=True, stress=False, create_graph=True)
    n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs)
    energy = (((prediction.energy - batch.energy) / n_atoms) ** 2).mean()
    loss = energy + ((prediction.forces - batch.forces) ** 2).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def speed(args) -> None:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.set_num_threads(args.threads)
    structures = generate(args.batch_size * 4, seed=0, elements=("Al", "Cu", "Ni", "Pd"), workers=1)
    graphs = [atoms_to_data(s.to_atoms(), args.cutoff, s.energy, s.forces) for s in structures]
    batches = [Batch.from_data_list(graphs[k:k + args.batch_size]).to(device)
               for k in range(0, len(graphs), args.batch_size)]
    elements = tuple(sorted({int(z) for g in graphs for z in g.z}))
    neighbours = sum(b.num_edges for b in batches) / sum(b.num_nodes for b in batches)
    models = {}
    for arch in ARCHS:
        options = {"avg_num_neighbors": round(neighbours, 4)} if arch == "mace" else {}
        config, _ = size_model(args.params, ModelConfig(arch, 1, elements, args.cutoff, options))
        torch.manual_seed(0)
        model = Potential(config).to(device)
        model.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        models[arch] = model
    seconds = time_interleaved(models, lambda model, batch: train_step(model, model.optimizer, batch), batches,
                               args.steps, args.warmup, device)
    atoms = sum(b.num_nodes for b in batches) / len(batches)
    print(f"device {device}, threads {args.threads}, cutoff {args.cutoff} A, batch {args.batch_size} structures = "
          f"{atoms:.0f} atoms, {neighbours:.1f} neighbours/atom; {args.steps} interleaved steps each")
    for arch, model in models.items():
        rate = args.steps / seconds[arch]
        print(f"{arch:10s} params {model.n_params:7d} width {model.config.width:4d}  steps/s {rate:7.2f}  "
              f"atoms/s {rate * atoms:8.0f}  time vs twobody {seconds[arch] / seconds['twobody']:.2f}x")


def _store(source: Path, out: Path, cutoff: float) -> Path:
    if not (out / "manifest.json").is_file():
        assert scaling(["-q", "data", "build", str(source), "--cutoff", str(cutoff), "--out", str(out)]) == 0
    return out


def datasets(args, work: Path) -> dict[str, tuple[Path, Path | None, list[str]]]:
    """name -> (training store, test store or None, extra `scaling train` arguments)."""
    found = {}
    if "emt" in args.datasets:
        pool = work / f"emt{args.emt}.extxyz"
        if not pool.is_file():
            assert scaling(["-q", "data", "emt", "--n", str(args.emt), "--seed", "0", "--out", str(pool)]) == 0
        found["EMT"] = (_store(pool, work / f"emt{args.emt}", 5.0), None, [])
    mlearn = (reference_data_dir() or Path("/nonexistent")) / "mlearn"
    if "mo" in args.datasets and (mlearn / "Mo_training.json").is_file():
        found["mlearn Mo"] = (_store(mlearn / "Mo_training.json", work / "mo_train", 5.0),
                              _store(mlearn / "Mo_test.json", work / "mo_test", 5.0),
                              ["--set", "energy_weight=20", "--batch-size", "4"])
    return found


def mae(args) -> None:
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_arch_"))
    print(f"runs in {work}; {args.params} parameters, {args.cpu_seconds} CPU-s per run, one thread, sequential")
    print("| dataset | arch | n_params | epochs | steps | CPU s | test energy MAE (meV/atom) | test force MAE (eV/A) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (store, test, extra) in datasets(args, work).items():
        for arch in ARCHS:
            out = work / "runs" / f"{name.replace(' ', '_')}-{arch}"
            command = ["-q", "train", "--data", str(store), "--params", str(args.params), "--arch", arch,
                       "--max-epochs", "100000", "--patience", "100000", "--max-cpu-seconds", str(args.cpu_seconds),
                       "--threads", "1", "--device", "cpu", "--out", str(out), *extra]
            if test is not None:
                command += ["--test-data", str(test)]
            scaling(command)
            r = json.loads((out / "result.json").read_text())
            print(f"| {name} | {arch} | {r['n_params']:,} | {r['epochs']} | {r['steps']} | {r['cpu_seconds']:.0f} | "
                  f"{r['test_energy_mae'] * 1000:.1f} | {r['test_force_mae']:.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("speed", "mae"))
    parser.add_argument("--params", type=int, default=50_000)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpu-seconds", type=float, default=120.0)
    parser.add_argument("--emt", type=int, default=1000, help="EMT structures in the pool (80/10/10 split)")
    parser.add_argument("--datasets", default="emt,mo")
    parser.add_argument("--work", default=None, help="folder for stores and runs (default: a temp folder)")
    args = parser.parse_args()
    speed(args) if args.what == "speed" else mae(args)


if __name__ == "__main__":
    main()
