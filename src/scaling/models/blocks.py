"""Building blocks of the potentials: radial bases, cutoff envelopes, the continuous-filter interaction and the
three-body (angle-aware) filter correction.

Everything here is invariant: it sees edge lengths and angles, never directions, so energies are invariant under
rotation, translation and permutation, and forces/stress (autograd of the energy) are equivariant for free.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter


class PolynomialEnvelope(nn.Module):
    """Smooth cutoff u(r) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2), x = r/rc (DimeNet).

    It goes to zero at rc with its first and second derivatives, so energies, forces and force derivatives (which
    training through the force loss needs) are continuous when a neighbour crosses the cutoff.
    """

    def __init__(self, cutoff: float, exponent: int = 5):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = exponent

    def forward(self, r: Tensor) -> Tensor:
        p = self.p
        x = r / self.cutoff
        u = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        return torch.where(x < 1.0, u, torch.zeros_like(u))


class BesselBasis(nn.Module):
    """sqrt(2/rc) sin(n pi r / rc) / r for n = 1..n_basis: a compact radial basis that vanishes at rc."""

    def __init__(self, cutoff: float, n_basis: int):
        super().__init__()
        self.cutoff = float(cutoff)
        self.register_buffer("frequencies", torch.arange(1, n_basis + 1, dtype=torch.float32) * math.pi / cutoff)
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, r: Tensor) -> Tensor:
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.frequencies * r) / r


def legendre(cos_angle: Tensor, n: int) -> Tensor:
    """Legendre polynomials P_0..P_{n-1} of cos(angle), by the three-term recurrence: [T] -> [T, n]."""
    values = [torch.ones_like(cos_angle), cos_angle]
    for order in range(1, n - 1):
        values.append(((2 * order + 1) * cos_angle * values[-1] - order * values[-2]) / (order + 1))
    return torch.stack(values[:n], dim=-1)


class RadialFilters(nn.Module):
    """The continuous filters W_l(r) of every interaction layer from one shared radial network.

    One trunk (basis -> hidden, SiLU) and one linear map to all layers' filters at once (hidden -> width * depth)
    replaces SchNet's per-layer two-layer filter networks: a single wide matmul per edge instead of `depth` pairs,
    which is where most of the speed over SchNet comes from. Filters are multiplied by the smooth envelope.
    """

    def __init__(self, cutoff: float, n_basis: int, hidden: int, width: int, depth: int):
        super().__init__()
        self.basis = BesselBasis(cutoff, n_basis)
        self.envelope = PolynomialEnvelope(cutoff)
        self.trunk = nn.Sequential(nn.Linear(n_basis, hidden), nn.SiLU())
        self.heads = nn.Linear(hidden, width * depth)
        self.depth = depth

    def forward(self, r: Tensor) -> list[Tensor]:
        filters = self.heads(self.trunk(self.basis(r))) * self.envelope(r).unsqueeze(-1)
        return list(filters.chunk(self.depth, dim=-1))


class ContinuousFilterConv(MessagePassing):
    """m_i = sum_j h_j * W(r_ij): the continuous-filter convolution (SchNet's CFConv) with sum aggregation."""

    def __init__(self):
        super().__init__(aggr="add")

    def forward(self, h: Tensor, edge_index: Tensor, filters: Tensor) -> Tensor:
        return self.propagate(edge_index, h=h, filters=filters)

    def message(self, h_j: Tensor, filters: Tensor) -> Tensor:
        return h_j * filters


class InteractionBlock(nn.Module):
    """One residual update x <- x + MLP(sum_j (A x_j) * W(r_ij)); the filter may carry a three-body correction."""

    def __init__(self, width: int):
        super().__init__()
        self.project = nn.Linear(width, width, bias=False)
        self.conv = ContinuousFilterConv()
        self.update = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, x: Tensor, edge_index: Tensor, filters: Tensor) -> Tensor:
        return x + self.update(self.conv(self.project(x), edge_index, filters))


class Triplets:
    """Pairs of edges (j->i, k->i), j != k, that share a centre i and are both shorter than the three-body cutoff.

    Built from the existing edge list by index arithmetic (no neighbour search): edges within the cutoff are grouped
    by centre, and every edge is paired with every other edge of its group.
    """

    def __init__(self, edge_index: Tensor, lengths: Tensor, cutoff: float, n_nodes: int):
        inside = torch.nonzero(lengths < cutoff).squeeze(-1)
        centres = edge_index[1, inside]
        order = torch.argsort(centres, stable=True)
        inside, centres = inside[order], centres[order]
        counts = torch.bincount(centres, minlength=n_nodes)
        starts = torch.cumsum(counts, 0) - counts
        repeats = counts[centres]
        first = torch.repeat_interleave(torch.arange(inside.numel(), device=lengths.device), repeats)
        offsets = torch.arange(first.numel(), device=lengths.device) - torch.repeat_interleave(
            torch.cumsum(repeats, 0) - repeats, repeats
        )
        second = starts[centres[first]] + offsets
        keep = first != second
        self.ij = inside[first[keep]]
        self.ik = inside[second[keep]]


class TripletBasis(nn.Module):
    """The per-triplet basis P(cos theta_jik) (x) R(r_ik) * u(r_ij) u(r_ik): a Legendre angular basis times a Bessel
    radial basis of r_ik, with both edges' smooth envelopes. It has no parameters and does not depend on the layer,
    so the network computes it once per forward pass and every layer's `ThreeBodyFilter` reads it."""

    def __init__(self, cutoff: float, n_angular: int, n_radial: int):
        super().__init__()
        self.n_angular = n_angular
        self.radial = BesselBasis(cutoff, n_radial)
        self.envelope = PolynomialEnvelope(cutoff)
        self.size = n_angular * n_radial

    def forward(self, vectors: Tensor, lengths: Tensor, triplets: Triplets) -> Tensor:
        """[T, n_angular * n_radial] for the T triplets."""
        first, second = vectors[triplets.ij], vectors[triplets.ik]
        cos_angle = (first * second).sum(-1) / (lengths[triplets.ij] * lengths[triplets.ik])
        angular = legendre(cos_angle.clamp(-1.0, 1.0), self.n_angular)
        radial = self.radial(lengths[triplets.ik])
        smooth = self.envelope(lengths[triplets.ij]) * self.envelope(lengths[triplets.ik])
        return (angular.unsqueeze(-1) * radial.unsqueeze(-2)).flatten(1) * smooth.unsqueeze(-1)


class ThreeBodyFilter(nn.Module):
    """Angle-aware filter correction dW_ij = Lin( sum_k basis_ijk * gate(x_k) ) of one layer.

    The triplet basis (`TripletBasis`) is gated by the neighbour k's features (M3GNet's three-body update); the
    triplet sum lands on edge ij and is mapped linearly to a correction of that edge's continuous filter, so the
    three-body model shares the two-body code path.
    """

    def __init__(self, basis_size: int, width: int):
        super().__init__()
        self.gate = nn.Linear(width, basis_size)
        self.out = nn.Linear(basis_size, width, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor, basis: Tensor, triplets: Triplets, n_edges: int) -> Tensor:
        gate = torch.sigmoid(self.gate(x))[edge_index[0, triplets.ik]]
        summed = scatter(basis * gate, triplets.ij, dim=0, dim_size=n_edges, reduce="sum")
        return self.out(summed)
