"""`scaling train` (placeholder until its issue lands)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="(not yet implemented)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    raise SystemExit("scaling train: not yet implemented")
