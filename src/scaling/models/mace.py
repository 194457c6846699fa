"""`mace`: MACE (Batatia et al. 2022) from the mace-torch package, as a registry builder (optional extra).

The network is mace-torch's own `mace.modules.MACE`, built with its own blocks; only its forward pass is replaced:
mace-torch's computes edge vectors from positions itself, whereas a registry network takes the wrapper's (strained)
edge vectors, so forces and stress come from the shared wrapper like for every architecture. The MACE atomic
energies (E0) and scale/shift are left out: the wrapper owns reference energies and the energy scale.

e3nn 0.4.4 (pinned by mace-torch) loads its Wigner constants with a bare `torch.load`, which torch >= 2.6 does
with weights_only=True and refuses, because the file pickles a `slice`. The import below allowlists exactly that one
builtin for the duration of the import (`torch.serialization.safe_globals`). mace-torch's own `__init__` sets
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in the environment, which would turn safe loading off for every later
`torch.load` of this process and of every process it starts; the import restores the environment as it was.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor, nn

_UNSAFE_LOAD_FLAG = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_flag_before = os.environ.get(_UNSAFE_LOAD_FLAG)
try:
    with torch.serialization.safe_globals([slice]):
        from e3nn import o3
        from mace.modules import MACE, gate_dict, interaction_classes
finally:
    if _flag_before is None:
        os.environ.pop(_UNSAFE_LOAD_FLAG, None)
    else:
        os.environ[_UNSAFE_LOAD_FLAG] = _flag_before


def hidden_irreps(channels: int, max_L: int) -> o3.Irreps:
    """`channels` copies of every irrep up to max_L with the parity of spherical harmonics: 0e, 1o, 2e, ..."""
    return o3.Irreps("+".join(f"{channels}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(max_L + 1)))


class MaceEnergy(nn.Module):
    """mace-torch's MACE whose forward takes the wrapper's edge vectors and returns one energy per atom."""

    def __init__(self, mace: MACE, elements: tuple[int, ...]):
        super().__init__()
        self.mace = mace
        self.n_elements = len(elements)
        species = torch.full((119,), -1, dtype=torch.long)
        species[list(elements)] = torch.arange(len(elements))
        self.register_buffer("species_index", species, persistent=False)

    def forward(self, z: Tensor, vectors: Tensor, edge_index: Tensor, **graph) -> Tensor:
        mace = self.mace
        node_attrs = nn.functional.one_hot(self.species_index[z], self.n_elements).to(vectors.dtype)
        vectors = -vectors  # mace-torch's convention: r_receiver - r_sender (ours: r_source - r_centre)
        lengths = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
        heads = torch.zeros_like(z)
        atoms = torch.arange(z.numel(), device=z.device)
        node_feats = mace.node_embedding(node_attrs)
        edge_attrs = mace.spherical_harmonics(vectors)
        edge_feats, cutoff = mace.radial_embedding(lengths, node_attrs, edge_index, mace.atomic_numbers)
        features = []
        for layer, (interaction, product) in enumerate(zip(mace.interactions, mace.products)):
            node_feats, skip = interaction(node_attrs=node_attrs, node_feats=node_feats, edge_attrs=edge_attrs,
                                           edge_feats=edge_feats, edge_index=edge_index, cutoff=cutoff,
                                           first_layer=layer == 0)
            node_feats = product(node_feats=node_feats, sc=skip, node_attrs=node_attrs)
            features.append(node_feats)
        energy = torch.zeros(z.numel(), dtype=vectors.dtype, device=vectors.device)
        for layer, readout in enumerate(mace.readouts):
            energy = energy + readout(features[layer if len(mace.readouts) > 1 else -1], heads)[atoms, heads]
        return energy


def build(width: int, elements: tuple[int, ...], cutoff: float, *, max_L: int, max_ell: int, correlation: int,
          num_interactions: int, num_bessel: int, num_polynomial_cutoff: int, radial_mlp: list, mlp_irreps: str,
          avg_num_neighbors: float, gate: str, interaction: str) -> MaceEnergy:
    """MACE with `width` channels (num_channels) per irrep up to max_L; the registry's builder
    (`scaling.models.builtin.build_mace`) holds the options' defaults."""
    if interaction not in interaction_classes:
        raise ValueError(f"interaction {interaction!r}: not one of mace-torch's {sorted(interaction_classes)}")
    network = MACE(
        r_max=float(cutoff), num_bessel=num_bessel, num_polynomial_cutoff=num_polynomial_cutoff, max_ell=max_ell,
        interaction_cls=interaction_classes[interaction],
        interaction_cls_first=interaction_classes["RealAgnosticInteractionBlock"],  # as mace-torch's run_train
        num_interactions=num_interactions, num_elements=len(elements), hidden_irreps=hidden_irreps(width, max_L),
        MLP_irreps=o3.Irreps(mlp_irreps), atomic_energies=np.zeros(len(elements)),
        avg_num_neighbors=float(avg_num_neighbors), atomic_numbers=list(elements), correlation=correlation,
        gate=gate_dict[gate], radial_MLP=list(radial_mlp),
    )
    return MaceEnergy(network, tuple(elements))
