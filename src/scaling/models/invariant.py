"""The in-house invariant network behind `twobody` and `threebody` (their builders: `scaling.models.builtin`).

Per-atom features start as a learned embedding of the element (only the model's elements: the count is honest)
and go through `depth` residual continuous-filter interactions; `threebody` adds an angle-aware correction to each
layer's filter. The network returns one unscaled energy per atom; the wrapper does scale, references and forces.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from scaling.models.blocks import InteractionBlock, RadialFilters, ThreeBodyFilter, TripletBasis, Triplets


class InvariantNetwork(nn.Module):
    """Invariant message passing (two-body, or with the three-body filter correction when threebody_cutoff is set)."""

    def __init__(self, width: int, elements: tuple[int, ...], cutoff: float, depth: int, n_radial: int,
                 radial_hidden: int, threebody_cutoff: float | None = None, n_angular: int = 4,
                 n_radial_threebody: int = 4):
        super().__init__()
        species = torch.full((119,), -1, dtype=torch.long)
        species[list(elements)] = torch.arange(len(elements))
        self.register_buffer("species_index", species, persistent=False)
        self.threebody_cutoff = threebody_cutoff
        self.embedding = nn.Embedding(len(elements), width)
        self.filters = RadialFilters(cutoff, n_radial, radial_hidden, width, depth)
        self.interactions = nn.ModuleList(InteractionBlock(width) for _ in range(depth))
        self.triplet_basis = self.threebody = None
        if threebody_cutoff is not None:
            self.triplet_basis = TripletBasis(threebody_cutoff, n_angular, n_radial_threebody)
            self.threebody = nn.ModuleList(ThreeBodyFilter(self.triplet_basis.size, width) for _ in range(depth))
            self._register_load_state_dict_pre_hook(_one_triplet_basis)
        self.readout = nn.Sequential(nn.Linear(width, max(width // 2, 1)), nn.SiLU(), nn.Linear(max(width // 2, 1), 1))

    def forward(self, z: Tensor, vectors: Tensor, edge_index: Tensor, **graph) -> Tensor:
        lengths = torch.linalg.vector_norm(vectors, dim=-1)
        x = self.embedding(self.species_index[z])
        filters = self.filters(lengths)
        if self.threebody is not None:
            triplets = Triplets(edge_index, lengths.detach(), self.threebody_cutoff, z.numel())
            basis = self.triplet_basis(vectors, lengths, triplets)
        for layer, interaction in enumerate(self.interactions):
            w = filters[layer]
            if self.threebody is not None:
                w = w + self.threebody[layer](x, edge_index, basis, triplets, lengths.numel())
            x = interaction(x, edge_index, w)
        return self.readout(x).squeeze(-1)


def _one_triplet_basis(state_dict, prefix, *args) -> None:
    """Checkpoints written before the triplet basis was one module held a copy of its (fixed, identical) Bessel
    frequencies in every layer's filter: the first becomes the shared basis's, the others are dropped."""
    for key in [k for k in state_dict if k.startswith(prefix + "threebody.") and k.endswith(".basis.frequencies")]:
        frequencies = state_dict.pop(key)
        if key == prefix + "threebody.0.basis.frequencies":
            state_dict.setdefault(prefix + "triplet_basis.radial.frequencies", frequencies)
