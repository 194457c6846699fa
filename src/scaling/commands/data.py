"""`scaling data` (placeholder until its issue lands)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="(not yet implemented)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    raise SystemExit("scaling data: not yet implemented")
