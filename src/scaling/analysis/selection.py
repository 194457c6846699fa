"""Which law to build for a request, and the candidate laws `--select` ranks by AICc (then BIC)."""

from __future__ import annotations

from scaling.analysis.laws import Law, get_law


def is_grossmann_form(fixed: dict[str, float], breaks: int) -> bool:
    """a = 0 and every f_i = 1 fixed, b not fixed: Grossmann et al.'s form, whose amplitude is tied to the break."""
    return (
        fixed.get("a") == 0.0
        and all(fixed.get(f"f{i}") == 1.0 for i in range(1, breaks + 1))
        and "b" not in fixed
    )


def build_law(name: str, breaks: int = 1, fixed: dict[str, float] | None = None) -> Law:
    """The law for `--law name --breaks K --fix ...`. `broken` in the Grossmann form (`--fix a=0 --fix f1=1`)
    ties the amplitude, b = d1^c0, as Grossmann et al. do; `broken+amplitude` keeps b free."""
    fixed = fixed or {}
    if name == "broken":
        return get_law("broken", breaks=breaks, tie_amplitude=is_grossmann_form(fixed, breaks))
    if name == "broken+amplitude":
        return get_law(name, breaks=breaks)
    return get_law(name)


def grossmann_fixes(breaks: int = 1) -> dict[str, float]:
    """a = 0 and every f_i = 1."""
    return {"a": 0.0, **{f"f{i}": 1.0 for i in range(1, breaks + 1)}}


def candidate_laws(breaks: int = 1, fixed: dict[str, float] | None = None) -> list[tuple[Law, dict[str, float]]]:
    """(law, fixed values) for each `--select` candidate: the README's four (power, power+floor, broken in Grossmann
    et al.'s form, the same with a free amplitude), plus the requested broken form (`--breaks`, `--fix`) where it is
    another one (e.g. the full BNSL without fixes; its AICc is undefined, so it ranks last, on fewer than k+2 points).
    The fixes describe the broken form and do not apply to the power laws."""
    fixed = dict(fixed or {})
    grossmann = grossmann_fixes(breaks)
    out = [
        (get_law("power"), {}),
        (get_law("power+floor"), {}),
        (build_law("broken", breaks, grossmann), grossmann),
        (build_law("broken+amplitude", breaks, grossmann), grossmann),
    ]
    if fixed != grossmann:
        out.append((build_law("broken", breaks, fixed), fixed))
    return out


def rank_key(aicc: float | None, bic: float | None) -> tuple[float, float]:
    """Sort key: lower AICc first, BIC breaks ties; undefined criteria last."""
    inf = float("inf")
    return (inf if aicc is None else aicc, inf if bic is None else bic)
