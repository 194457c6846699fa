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

    def add(self, terms: dict[str, Tensor], counts: dict[str, int], abs_errors: dict[str, float]) -> None:
        self.energy_penalty += float(terms["energy"].detach())
        self.force_penalty += float(terms["forces"].detach())
        self.stress_penalty += float(terms["stress"].detach())
        self.energy_abs += abs_errors["energy"]
        self.force_abs += abs_errors["forces"]
        self.stress_abs += abs_errors["stress"]
        self.n_structures += counts["energy"]
        self.n_force_components += counts["forces"]
        self.n_stress_components += counts["stress"]

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


def batch_terms(prediction: Prediction, batch, settings: LossSettings):
    """(summed penalties, label counts, summed absolute errors) of one batch; penalties keep the autograd graph."""
    n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).to(prediction.energy.dtype)
    energy_error = (prediction.energy - batch.energy) / n_atoms
    terms = {"energy": _penalty(energy_error, settings)}
    counts = {"energy": batch.num_graphs, "forces": 0, "stress": 0}
    abs_errors = {"energy": float(energy_error.detach().abs().sum()), "forces": 0.0, "stress": 0.0}
    zero = prediction.energy.new_zeros(())
    terms["forces"], terms["stress"] = zero, zero
    if prediction.forces is not None:
        force_error = prediction.forces - batch.forces
        terms["forces"] = _penalty(force_error, settings)
        counts["forces"] = force_error.numel()
        abs_errors["forces"] = float(force_error.detach().abs().sum())
    if prediction.stress is not None and bool(batch.has_stress.any()):
        stress_error = (prediction.stress - batch.stress)[batch.has_stress]
        terms["stress"] = _penalty(stress_error, settings)
        counts["stress"] = stress_error.numel()
        abs_errors["stress"] = float(stress_error.detach().abs().sum())
    return terms, counts, abs_errors


def batch_loss(prediction: Prediction, batch, settings: LossSettings) -> tuple[Tensor, dict, dict, dict]:
    """The differentiable loss of one batch (weighted means over its labels), with its terms for bookkeeping."""
    terms, counts, abs_errors = batch_terms(prediction, batch, settings)
    loss = combine(terms["energy"], terms["forces"], terms["stress"],
                   counts["energy"], counts["forces"], counts["stress"], settings)
    return loss, terms, counts, abs_errors
