"""The suite's test structures: fcc bulk of each element and ordered alloys (L1_2 A3B, L1_0 AB) of its pairs.

Every structure is a conventional 4-atom cubic fcc cell at a Vegard-law lattice constant (the EOS then finds each
calculator's own), so alloys and elements share one code path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Sites of ase.build.bulk(X, "fcc", cubic=True): (0,0,0), (0,.5,.5), (.5,0,.5), (.5,.5,0).
_L12_SITES = (1, 0, 0, 0)  # B on the cube corner: Cu3Au-type
_L10_SITES = (0, 1, 1, 0)  # A on the z = 0 layer, B on z = 1/2: CuAu-type


@dataclass(frozen=True)
class Case:
    """One bulk test structure: a name, its 4 site symbols and a starting lattice constant (A)."""

    name: str
    symbols: tuple[str, str, str, str]
    lattice: float

    @property
    def is_element(self) -> bool:
        return len(set(self.symbols)) == 1

    def atoms(self, lattice: float | None = None, repeat: int = 1):
        from ase.build import bulk

        atoms = bulk("Cu", "fcc", a=lattice or self.lattice, cubic=True)
        atoms.set_chemical_symbols(list(self.symbols))
        return atoms.repeat(repeat) if repeat > 1 else atoms


def fcc_lattice(element: str) -> float:
    from ase.data import atomic_numbers, reference_states

    return float(reference_states[atomic_numbers[element]]["a"])


def bulk_cases(elements: tuple[str, ...], alloys: int) -> list[Case]:
    """fcc elements, then for the first `alloys` neighbouring pairs (A, B) an L1_2 A3B and an L1_0 AB."""
    cases = [Case(e, (e,) * 4, fcc_lattice(e)) for e in elements]
    pairs = list(zip(elements, elements[1:]))[:alloys]
    for a, b in pairs:
        for name, sites in ((f"{a}3{b}-L12", _L12_SITES), (f"{a}{b}-L10", _L10_SITES)):
            symbols = tuple(b if s else a for s in sites)
            lattice = float(np.mean([fcc_lattice(s) for s in symbols]))
            cases.append(Case(name, symbols, lattice))
    return cases


def suite_elements(suite, model_elements: tuple[str, ...] | None) -> tuple[str, ...]:
    """The metals to test: the suite's list, else the model's metals, else the pool's default metals."""
    from scaling.data.emt import DEFAULT_ELEMENTS, METALS, check_elements
    from scaling.errors import InputError

    chosen = suite.elements or tuple(e for e in (model_elements or DEFAULT_ELEMENTS) if e in METALS)
    chosen = tuple(e for e in check_elements(chosen) if e in METALS)
    if model_elements is not None:
        unknown = [e for e in chosen if e not in model_elements]
        if unknown:
            raise InputError(f"--elements: the model was not trained on {unknown[0]} "
                             f"(it knows {','.join(model_elements)})")
    if not chosen:
        raise InputError("--elements: no EMT metal to evaluate")
    return chosen[: suite.max_elements]
