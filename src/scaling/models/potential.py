"""The potential every architecture shares: graph -> per-atom energies -> total energy, forces and stress.

Edge vectors are built in torch from positions, cell and integer shifts (r_ij = pos[j] - pos[i] + S @ cell) and
strained by a symmetric displacement gradient, so forces = -dE/dpos and stress = (1/V) dE/d(strain) come from one
autograd call. Per-element reference energies (least squares on the training set) and an energy scale are buffers:
the network learns the scaled residual.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from scaling.models.blocks import InteractionBlock, RadialFilters, ThreeBodyFilter, Triplets

EV_PER_A3_TO_GPA = 160.21766208
ARCHITECTURES = ("twobody", "threebody")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a model's architecture (and so its parameter count)."""

    arch: Literal["twobody", "threebody"]
    width: int
    depth: int
    elements: tuple[int, ...]
    cutoff: float = 5.0
    n_radial: int = 8
    radial_hidden: int = 32
    threebody_cutoff: float = 3.5
    n_angular: int = 4
    n_radial_threebody: int = 4

    def __post_init__(self):
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        object.__setattr__(self, "elements", tuple(sorted(int(z) for z in self.elements)))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Prediction:
    energy: Tensor  # [n_graphs] eV
    forces: Tensor | None = None  # [n_atoms, 3] eV/A
    stress: Tensor | None = None  # [n_graphs, 3, 3] GPa, ASE sign convention


class Potential(nn.Module):
    """Invariant message-passing potential (two-body, or with the three-body filter correction)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        width, depth = config.width, config.depth
        species = torch.full((119,), -1, dtype=torch.long)
        species[list(config.elements)] = torch.arange(len(config.elements))
        self.register_buffer("species_index", species, persistent=False)
        self.register_buffer("reference_energies", torch.zeros(len(config.elements)))
        self.register_buffer("energy_scale", torch.ones(()))
        self.embedding = nn.Embedding(len(config.elements), width)
        self.filters = RadialFilters(config.cutoff, config.n_radial, config.radial_hidden, width, depth)
        self.interactions = nn.ModuleList(InteractionBlock(width) for _ in range(depth))
        self.threebody = (
            nn.ModuleList(
                ThreeBodyFilter(config.threebody_cutoff, config.n_angular, config.n_radial_threebody, width)
                for _ in range(depth)
            )
            if config.arch == "threebody"
            else None
        )
        self.readout = nn.Sequential(nn.Linear(width, max(width // 2, 1)), nn.SiLU(), nn.Linear(max(width // 2, 1), 1))

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def atomic_energies(self, z: Tensor, vectors: Tensor, edge_index: Tensor) -> Tensor:
        """Per-atom energies [n_atoms] in eV from atomic numbers and (strained) edge vectors."""
        species = self.species_index[z]
        if bool((species < 0).any()):
            unknown = sorted(set(z[species < 0].tolist()))
            raise ValueError(f"atomic numbers {unknown} not among the model's elements {self.config.elements}")
        lengths = torch.linalg.vector_norm(vectors, dim=-1)
        x = self.embedding(species)
        filters = self.filters(lengths)
        if self.threebody is not None:
            triplets = Triplets(edge_index, lengths.detach(), self.config.threebody_cutoff, z.numel())
            basis = self.threebody[0].triplet_basis(vectors, lengths, triplets)
        for layer, interaction in enumerate(self.interactions):
            w = filters[layer]
            if self.threebody is not None:
                w = w + self.threebody[layer](x, edge_index, basis, triplets, lengths.numel())
            x = interaction(x, edge_index, w)
        return self.readout(x).squeeze(-1) * self.energy_scale + self.reference_energies[species]

    def forward(self, data, forces: bool = True, stress: bool = True, create_graph: bool = False) -> Prediction:
        """Energy of every graph in `data` (a PyG Data or Batch), and forces and stress by autograd when asked.

        create_graph=True keeps the graph of the derivatives so a force/stress loss can be back-propagated.
        """
        pos = data.pos
        if forces:
            pos = pos.detach().requires_grad_(True)
        n_graphs = int(data.num_graphs) if hasattr(data, "num_graphs") else 1
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros_like(data.z)
        cell = data.cell.view(-1, 3, 3)
        source, centre = data.edge_index
        edge_graph = batch[centre]
        vectors = pos[source] - pos[centre] + torch.einsum("ek,ekl->el", data.cell_shift, cell[edge_graph])
        strain = None
        if stress:
            strain = torch.zeros(n_graphs, 3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
            symmetric = 0.5 * (strain + strain.transpose(1, 2))
            vectors = vectors + torch.einsum("ek,ekl->el", vectors, symmetric[edge_graph])
        atomic = self.atomic_energies(data.z, vectors, data.edge_index)
        energy = scatter(atomic, batch, dim=0, dim_size=n_graphs, reduce="sum")
        prediction = Prediction(energy=energy)
        inputs = [t for t in (pos if forces else None, strain) if t is not None]
        if not inputs:
            return prediction
        grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph)
        if forces:
            prediction.forces = -grads[0]
        if stress:
            volume = torch.linalg.det(cell).abs()
            safe = torch.where(volume > 0, volume, torch.ones_like(volume))
            per_volume = torch.where(volume > 0, 1.0 / safe, torch.zeros_like(volume))
            prediction.stress = grads[-1] * (per_volume * EV_PER_A3_TO_GPA).view(-1, 1, 1)
        return prediction

