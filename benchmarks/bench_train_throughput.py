"""Training throughput (energy + forces) of our two-body model vs torch_geometric's SchNet, same batches and graph.

Both models get the same periodic edges (built in torch from positions, cell and integer shifts, so forces come
from autograd for both): SchNet's interaction blocks are called with our edge_index / edge_weight. Equal width
(hidden = filters), depth (interactions) and cutoff; SchNet keeps its 50 Gaussians. Steps of the models are
interleaved (ours, SchNet, three-body, ours, ...) so machine contention hits them alike; the figures are ratios.

    python benchmarks/bench_train_throughput.py [--width 64] [--depth 3] [--batch-size 16] [--steps 30] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch
from interleaved import time_interleaved
from torch_geometric.data import Batch
from torch_geometric.nn.models import SchNet
from torch_geometric.utils import scatter

from scaling.data.emt import generate
from scaling.models.graph import atoms_to_data
from scaling.models.potential import ModelConfig, Potential


class SchNetOnOurGraph(torch.nn.Module):
    """PyG SchNet's embedding, interactions and readout, driven by a given periodic edge list."""

    def __init__(self, width: int, depth: int, cutoff: float):
        super().__init__()
        self.schnet = SchNet(hidden_channels=width, num_filters=width, num_interactions=depth, cutoff=cutoff)

    def forward(self, batch: Batch):
        pos = batch.pos.detach().requires_grad_(True)
        source, centre = batch.edge_index
        cell = batch.cell.view(-1, 3, 3)[batch.batch[centre]]
        vectors = pos[source] - pos[centre] + torch.einsum("ek,ekl->el", batch.cell_shift, cell)
        weight = torch.linalg.vector_norm(vectors, dim=-1)
        attr = self.schnet.distance_expansion(weight)
        h = self.schnet.embedding(batch.z)
        for interaction in self.schnet.interactions:
            h = h + interaction(h, batch.edge_index, weight, attr)
        h = self.schnet.lin2(self.schnet.act(self.schnet.lin1(h)))
        energy = scatter(h.squeeze(-1), batch.batch, dim=0, dim_size=batch.num_graphs, reduce="sum")
        forces = -torch.autograd.grad(energy.sum(), pos, create_graph=True)[0]
        return energy, forces


class Ours(torch.nn.Module):
    def __init__(self, arch: str, width: int, depth: int, cutoff: float, elements):
        super().__init__()
        self.model = Potential(ModelConfig(arch=arch, width=width, elements=elements, cutoff=cutoff,
                                           options={"depth": depth}))

    def forward(self, batch: Batch):
        prediction = self.model(batch, forces=True, stress=False, create_graph=True)
        return prediction.energy, prediction.forces


def train_step(model, optimizer, batch) -> None:
    energy, forces = model(batch)
    n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs)
    loss = (((energy - batch.energy) / n_atoms) ** 2).mean() + ((forces - batch.forces) ** 2).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    structures = generate(args.batch_size * 4, seed=0, elements=("Al", "Cu", "Ni", "Pd"), workers=1)
    graphs = [atoms_to_data(s.to_atoms(), args.cutoff, s.energy, s.forces) for s in structures]
    batches = [Batch.from_data_list(graphs[k:k + args.batch_size]).to(device)
               for k in range(0, len(graphs), args.batch_size)]
    elements = tuple(sorted({int(z) for g in graphs for z in g.z}))
    atoms_per_batch = sum(b.num_nodes for b in batches) / len(batches)
    edges_per_batch = sum(b.num_edges for b in batches) / len(batches)

    torch.manual_seed(0)
    models = {
        "ours twobody": Ours("twobody", args.width, args.depth, args.cutoff, elements),
        "PyG SchNet": SchNetOnOurGraph(args.width, args.depth, args.cutoff),
        "ours threebody": Ours("threebody", args.width, args.depth, args.cutoff, elements),
    }
    for model in models.values():
        model.to(device)
        model.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    seconds = time_interleaved(models, lambda model, batch: train_step(model, model.optimizer, batch), batches,
                               args.steps, args.warmup, device)

    print(f"device {device}, threads {args.threads}, width {args.width}, depth {args.depth}, cutoff {args.cutoff} A, "
          f"batch {args.batch_size} structures = {atoms_per_batch:.0f} atoms, {edges_per_batch:.0f} edges; "
          f"{args.steps} interleaved steps each")
    for name, model in models.items():
        n_params = sum(p.numel() for p in model.parameters())
        rate = args.steps / seconds[name]
        print(f"{name:16s} params {n_params:8d}  steps/s {rate:7.2f}  atoms/s {rate * atoms_per_batch:9.0f}")
    print(f"speed-up ours/SchNet (two-body): {seconds['PyG SchNet'] / seconds['ours twobody']:.2f}x")
    print(f"three-body overhead at equal width: {seconds['ours threebody'] / seconds['ours twobody']:.2f}x time")


if __name__ == "__main__":
    main()
