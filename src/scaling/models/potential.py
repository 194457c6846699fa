"""The potential every architecture shares: graph -> per-atom energies -> total energy, forces and stress.

The energy network comes from the architecture registry (`scaling.models.registry`); this wrapper is the same for all.

Edge vectors are built in torch from positions, cell and integer shifts (r_ij = pos[j] - pos[i] + S @ cell) and
strained by a symmetric displacement gradient, so forces = -dE/dpos and stress = (1/V) dE/d(strain) come from one
autograd call. Per-element reference energies (least squares on the training set) and an energy scale are buffers:
the network learns the scaled residual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from scaling.models import registry

EV_PER_A3_TO_GPA = 160.21766208
# Fields of the model_config of checkpoints written before the registry (the in-house options were top-level).
_LEGACY_OPTIONS = ("depth", "n_radial", "radial_hidden", "threebody_cutoff", "n_angular", "n_radial_threebody")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a model's architecture (and so its parameter count): the registry name, the width the
    sizer searches, the elements, the cutoff and the builder's options (complete, defaults filled in, plain data)."""

    arch: str
    width: int
    elements: tuple[int, ...]
    cutoff: float = 5.0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "elements", tuple(sorted(int(z) for z in self.elements)))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "cutoff", float(self.cutoff))
        object.__setattr__(self, "options", registry.resolve(self.arch).complete_options(dict(self.options)))

    @property
    def depth(self) -> int | None:
        """Interaction layers, where the architecture names them (`depth`, or MACE's `num_interactions`)."""
        return self.options.get("depth", self.options.get("num_interactions"))

    def with_options(self, **options) -> "ModelConfig":
        return ModelConfig(self.arch, self.width, self.elements, self.cutoff, {**self.options, **options})

    def to_dict(self) -> dict:
        """Plain JSON-like data (a checkpoint's model_config; loadable with torch.load(weights_only=True))."""
        return {"arch": self.arch, "width": self.width, "elements": list(self.elements), "cutoff": self.cutoff,
                "options": dict(self.options)}

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """Inverse of to_dict; also reads the model_config of checkpoints written before the registry."""
        values = dict(values)
        if "options" not in values:
            values["options"] = {k: values.pop(k) for k in _LEGACY_OPTIONS if k in values}
            if values["arch"] == "twobody":
                for name in ("threebody_cutoff", "n_angular", "n_radial_threebody"):
                    values["options"].pop(name, None)
        return cls(**values)


@dataclass
class Prediction:
    energy: Tensor  # [n_graphs] eV
    forces: Tensor | None = None  # [n_atoms, 3] eV/A
    stress: Tensor | None = None  # [n_graphs, 3, 3] GPa, ASE sign convention


class Potential(nn.Module):
    """Any registered energy network, with reference energies, energy scale, forces and stress by autograd."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        species = torch.full((119,), -1, dtype=torch.long)
        species[list(config.elements)] = torch.arange(len(config.elements))
        self.register_buffer("species_index", species, persistent=False)
        self.register_buffer("reference_energies", torch.zeros(len(config.elements)))
        self.register_buffer("energy_scale", torch.ones(()))
        build = registry.resolve(config.arch).build
        self.network = build(config.width, config.elements, config.cutoff, **config.options)
        self._register_load_state_dict_pre_hook(_upgrade_legacy_keys)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def atomic_energies(self, z: Tensor, vectors: Tensor, edge_index: Tensor, **graph) -> Tensor:
        """Per-atom energies [n_atoms] in eV from atomic numbers and (strained) edge vectors."""
        species = self.species_index[z]
        # checked outside training only: a training batch comes from the data whose elements made the model, and
        # the check reads a value back from the device (a synchronisation per step on a GPU)
        if not self.training and bool((species < 0).any()):
            unknown = sorted(set(z[species < 0].tolist()))
            raise ValueError(f"atomic numbers {unknown} not among the model's elements {self.config.elements}")
        energies = self.network(z, vectors, edge_index, **graph)
        if energies.shape != z.shape:
            raise ValueError(f"arch {self.config.arch!r}: forward returned shape {tuple(energies.shape)}, "
                             f"expected one energy per atom {tuple(z.shape)}")
        return energies * self.energy_scale + self.reference_energies[species]

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
        atomic = self.atomic_energies(data.z, vectors, data.edge_index, batch=batch, num_graphs=n_graphs, cell=cell)
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



def _upgrade_legacy_keys(state_dict, prefix, *args) -> None:
    """Checkpoints from before the registry kept the in-house network's weights at the top level."""
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(prefix + "network.")]:
        name = key[len(prefix):]
        if name not in ("reference_energies", "energy_scale"):
            state_dict[prefix + "network." + name] = state_dict.pop(key)
