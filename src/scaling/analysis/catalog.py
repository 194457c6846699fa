"""The one list of built-in law names (stdlib only, so a command's flags can name them without importing numpy):
name -> (module, class, number of input axes). `scaling.analysis.laws.get_law` imports a law's module when the law
is first built; `register_law` adds laws from elsewhere."""

BUILTIN_LAWS: dict[str, tuple[str, str, int]] = {
    "power": ("scaling.analysis.laws", "PowerLaw", 1),
    "power+floor": ("scaling.analysis.laws", "PowerFloorLaw", 1),
    "broken": ("scaling.analysis.laws", "BrokenPowerLaw", 1),
    "broken+amplitude": ("scaling.analysis.laws", "BrokenAmplitudeLaw", 1),
    "chinchilla": ("scaling.analysis.laws2d", "Chinchilla", 2),
    "kaplan-broken": ("scaling.analysis.laws2d", "KaplanBroken", 2),
    "hoffmann-broken": ("scaling.analysis.laws2d", "HoffmannBroken", 2),
}


def builtin_names(n_inputs: int | None = None) -> tuple[str, ...]:
    """Built-in law names, all or those with `n_inputs` input axes (1: x; 2: N, D)."""
    return tuple(name for name, (_, _, axes) in BUILTIN_LAWS.items() if n_inputs is None or axes == n_inputs)
