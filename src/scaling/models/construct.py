"""A run's model from its TrainConfig and data: the architecture's options, then the width that hits `params`.

Options come from `arch_options`; the in-house architectures also take the TrainConfig fields they always had
(`depth`, `n_radial`, `radial_hidden`, `threebody_cutoff`, `n_angular`). A builder with an `avg_num_neighbors`
option that the user left unset gets the training set's mean neighbour count (edges per atom), as MACE normalises
its messages by it; the value is recorded in the model config like every other option.
"""

from __future__ import annotations

import inspect
import json

from scaling.errors import InputError
from scaling.models import registry
from scaling.models.potential import ModelConfig
from scaling.models.sizing import count_parameters, size_model


def architecture_options(config, data) -> dict:
    """The builder options of the run `config` (a TrainConfig) on `data` (a RunData)."""
    architecture = registry.resolve(config.arch)
    options = {}
    if config.arch in registry.IN_HOUSE:
        accepted = inspect.signature(architecture.build).parameters
        options = {name: getattr(config, name) for name in registry.IN_HOUSE_TRAIN_FIELDS if name in accepted}
    options.update(config.arch_options)
    if "avg_num_neighbors" in inspect.signature(architecture.build).parameters and "avg_num_neighbors" not in options:
        options["avg_num_neighbors"] = mean_neighbours(data.train)
    return options


def mean_neighbours(graphs, batch_size: int = 256) -> float:
    """Edges per atom over a set of graphs (rounded to 4 digits, so it reads well in a config)."""
    edges = atoms = 0
    for start in range(0, len(graphs), batch_size):
        batch = graphs.batch(range(start, min(start + batch_size, len(graphs))))
        edges += int(batch.edge_index.shape[1])
        atoms += int(batch.num_nodes)
    return round(edges / max(atoms, 1), 4)


def build_model_config(config, data) -> tuple[ModelConfig, int]:
    """(model config, exact parameter count): sized to config.params, or at config.width."""
    cutoff = config.cutoff or data.cutoff
    options = architecture_options(config, data)
    try:
        base = ModelConfig(arch=config.arch, width=config.width or 1, elements=data.elements, cutoff=cutoff,
                           options=options)
        if config.params is not None:
            return size_model(config.params, base, fit_depth=config.fit_depth)
        return base, count_parameters(base)
    except (ValueError, TypeError, KeyError) as error:  # the builder refused its options: bad input
        raise InputError(f"arch {config.arch!r} with options {json.dumps(options)}: {error}") from None
