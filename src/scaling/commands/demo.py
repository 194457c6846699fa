"""`scaling demo` (placeholder until its issue lands)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="(not yet implemented)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    raise SystemExit("scaling demo: not yet implemented")
