"""`scaling data check` and `scaling data correct`, registered under `scaling data` (placeholder until issue 7 lands)."""

from __future__ import annotations


def register(data_subparsers) -> None:
    """Add the provenance subcommands to `scaling data`'s subparsers."""
