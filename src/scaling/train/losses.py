"""The training loss (weighted per-atom energy, force and stress terms) and the error sums that metrics come from."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from scaling.models.potential import Prediction


@dataclass
class LossSettings:
    """What training minimises: the weight of each term, and the penalty of a residual (squared or Huber)."""

    energy: float = 1.0  # weight of the per-atom energy term
    forces: float = 1.0  # weight of the force term
    stress: float = 0.01  # weight of the stress term
    kind: str = "mse"  # the penalty: "mse" or "huber"
    huber_delta: float = 0.01


def _penalty(error: Tensor, settings: LossSettings) -> Tensor:
    """Summed penalty of residuals (squared, or Huber with delta huber_delta)."""
    if settings.kind == "huber":
        return F.huber_loss(error, torch.zeros_like(error), reduction="sum", delta=settings.huber_delta)
    return (error**2).sum()


@dataclass(frozen=True)
class LabelCounts:
    """How many labels a batch holds (host integers, known before the batch reaches the device): the loss divides
    by them, so a shard of a global batch divides by the global batch's counts."""

    structures: int
    force_components: int
    stress_components: int

    @classmethod
    def of(cls, batch) -> "LabelCounts":
        """Counts of a batch (read on the host before it is moved: no device synchronisation)."""
        with_stress = int(batch.has_stress.sum()) if batch.stress is not None else 0
        return cls(int(batch.num_graphs), 3 * int(batch.pos.shape[0]), 9 * with_stress)

    def __add__(self, other: "LabelCounts") -> "LabelCounts":
        return LabelCounts(self.structures + other.structures, self.force_components + other.force_components,
                           self.stress_components + other.stress_components)


NO_LABELS = LabelCounts(0, 0, 0)
SUMS = ("energy_penalty", "force_penalty", "stress_penalty", "energy_abs", "force_abs", "stress_abs")


@dataclass
class ErrorSums:
    """Sums over a set of the loss terms and absolute errors, so a whole set's loss and MAEs are exact."""

    energy_penalty: float = 0.0
    force_penalty: float = 0.0
    stress_penalty: float = 0.0
    energy_abs: float = 0.0  # eV/atom
    force_abs: float = 0.0  # eV/A
    stress_abs: float = 0.0  # GPa
    n_structures: int = 0
    n_force_components: int = 0
    n_stress_components: int = 0

    def add(self, sums: Tensor, counts: LabelCounts) -> None:
        """Add a vector of the SUMS (batch_terms' second value, or a running total of them) and its counts; the
        one place the sums are read back from the device."""
        for name, value in zip(SUMS, sums.detach().double().cpu().tolist()):
            setattr(self, name, getattr(self, name) + value)
        self.n_structures += counts.structures
        self.n_force_components += counts.force_components
        self.n_stress_components += counts.stress_components

    def loss(self, settings: LossSettings) -> float:
        return combine(
            self.energy_penalty, self.force_penalty, self.stress_penalty,
            self.n_structures, self.n_force_components, self.n_stress_components, settings,
        )

    def maes(self) -> dict[str, float | None]:
        return {
            "energy_mae": self.energy_abs / max(self.n_structures, 1),
            "force_mae": self.force_abs / self.n_force_components if self.n_force_components else None,
            "stress_mae": self.stress_abs / self.n_stress_components if self.n_stress_components else None,
        }


def combine(energy, forces, stress, n_energy, n_forces, n_stress, settings: LossSettings):
    """Weighted mean penalties; a term with no labels contributes nothing."""
    total = settings.energy * energy / max(n_energy, 1)
    if n_forces:
        total = total + settings.forces * forces / n_forces
    if n_stress:
        total = total + settings.stress * stress / n_stress
    return total


def batch_terms(prediction: Prediction, batch, settings: LossSettings) -> tuple[dict[str, Tensor], Tensor]:
    """(summed penalties, which keep the autograd graph; the vector of SUMS, detached) of one batch. Nothing here
    reads a value back from the device: unlabelled stresses are masked by multiplication, not by indexing."""
    n_atoms = torch.diff(batch.ptr).to(prediction.energy.dtype)
    energy_error = (prediction.energy - batch.energy) / n_atoms
    zero = prediction.energy.new_zeros(())
    terms = {"energy": _penalty(energy_error, settings), "forces": zero, "stress": zero}
    abs_errors = [energy_error.detach().abs().sum(), zero, zero]
    if prediction.forces is not None:
        force_error = prediction.forces - batch.forces
        terms["forces"] = _penalty(force_error, settings)
        abs_errors[1] = force_error.detach().abs().sum()
    if prediction.stress is not None:
        stress_error = (prediction.stress - batch.stress) * batch.has_stress.view(-1, 1, 1)
        terms["stress"] = _penalty(stress_error, settings)
        abs_errors[2] = stress_error.detach().abs().sum()
    sums = torch.stack([terms["energy"].detach(), terms["forces"].detach(), terms["stress"].detach(), *abs_errors])
    return terms, sums


def batch_loss(prediction: Prediction, batch, settings: LossSettings, normaliser: LabelCounts | None = None
               ) -> tuple[Tensor, Tensor]:
    """The differentiable loss of one batch, weighted means over `normaliser`'s labels (default: the batch's own;
    a data-parallel shard passes its global batch's, so the shards' losses sum to the global batch's loss), and
    the batch's vector of SUMS for bookkeeping."""
    terms, sums = batch_terms(prediction, batch, settings)
    counts = normaliser or LabelCounts.of(batch)
    loss = combine(terms["energy"], terms["forces"], terms["stress"],
                   counts.structures, counts.force_components, counts.stress_components, settings)
    return loss, sums
