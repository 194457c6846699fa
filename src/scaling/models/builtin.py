"""The built-in architectures' builders (`twobody`, `threebody`, `mace`), importable without torch.

A builder's signature is the architecture's option contract: the registry checks a spec's or `--arch-option`'s
options against it and records them with its defaults filled in. Keeping the signatures here, and importing the
network modules (torch, mace-torch) only when a model is built, lets a sweep spec naming a built-in validate
without importing torch.
"""

from __future__ import annotations

from scaling.errors import InputError

MACE_INSTALL_HINT = 'mace-torch is not installed; install the extra: pip install -e ".[mace]"'
# mace-torch's own defaults (mace/tools/arg_parser.py; max_L 1 as its 128x0e + 128x1o), except the radial MLP:
# [64, 64, 64] there is ~17k parameters per interaction, more than a whole model at the bottom of a scaling grid.
# avg_num_neighbors normalises the messages: the trainer sets it from the training set when not given.
MACE_DEFAULTS = dict(max_L=1, max_ell=3, correlation=3, num_interactions=2, num_bessel=8, num_polynomial_cutoff=5,
                     radial_mlp=[32, 32, 32], mlp_irreps="16x0e", avg_num_neighbors=30.0, gate="silu",
                     interaction="RealAgnosticResidualInteractionBlock")


def build_twobody(width: int, elements: tuple[int, ...], cutoff: float, depth: int = 3, n_radial: int = 8,
                  radial_hidden: int = 32):
    """Continuous-filter (SchNet-like) two-body network: `depth` layers, filters from one shared radial MLP."""
    from scaling.models.invariant import InvariantNetwork

    return InvariantNetwork(width, elements, cutoff, depth, n_radial, radial_hidden)


def build_threebody(width: int, elements: tuple[int, ...], cutoff: float, depth: int = 3, n_radial: int = 8,
                    radial_hidden: int = 32, threebody_cutoff: float = 3.5, n_angular: int = 4,
                    n_radial_threebody: int = 4):
    """The two-body network plus an M3GNet-style three-body filter correction within `threebody_cutoff`."""
    from scaling.models.invariant import InvariantNetwork

    return InvariantNetwork(width, elements, cutoff, depth, n_radial, radial_hidden, min(threebody_cutoff, cutoff),
                            n_angular, n_radial_threebody)


def build_mace(width: int, elements: tuple[int, ...], cutoff: float, max_L: int = MACE_DEFAULTS["max_L"],
               max_ell: int = MACE_DEFAULTS["max_ell"], correlation: int = MACE_DEFAULTS["correlation"],
               num_interactions: int = MACE_DEFAULTS["num_interactions"],
               num_bessel: int = MACE_DEFAULTS["num_bessel"],
               num_polynomial_cutoff: int = MACE_DEFAULTS["num_polynomial_cutoff"],
               radial_mlp: list = MACE_DEFAULTS["radial_mlp"], mlp_irreps: str = MACE_DEFAULTS["mlp_irreps"],
               avg_num_neighbors: float = MACE_DEFAULTS["avg_num_neighbors"], gate: str = MACE_DEFAULTS["gate"],
               interaction: str = MACE_DEFAULTS["interaction"]):
    """MACE with `width` channels (num_channels) per irrep up to max_L; everything else is a named option."""
    try:
        from scaling.models.mace import build
    except ImportError as error:  # installed (the registry found the package) but broken
        why = f'mace-torch cannot be imported ({type(error).__name__}: {error}); reinstall: pip install -e ".[mace]"'
        raise InputError(f"arch 'mace': {why}", field="arch", value="mace", why=why) from None
    return build(width, elements, cutoff, max_L=max_L, max_ell=max_ell, correlation=correlation,
                 num_interactions=num_interactions, num_bessel=num_bessel,
                 num_polynomial_cutoff=num_polynomial_cutoff, radial_mlp=radial_mlp, mlp_irreps=mlp_irreps,
                 avg_num_neighbors=avg_num_neighbors, gate=gate, interaction=interaction)
