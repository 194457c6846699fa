"""The `scaling` command: one subcommand per module in scaling.commands.

Each command module imports only argparse at load time and its heavy libraries inside its handler, so
`scaling fit` does not pay for torch and `scaling --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from scaling import __version__
from scaling.errors import InputError

COMMAND_MODULES = ("data", "train", "sweep", "fit", "fit2d", "plot", "demo", "evaluate")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `only` the parser of that one subcommand (a faster start: one module imported)."""
    parser = argparse.ArgumentParser(
        prog="scaling",
        description="Scaling laws for machine-learned interatomic potentials: data, training sweeps, fits, figures.",
    )
    parser.add_argument("--version", action="version", version=f"scaling {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or informational output")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (only,) if only else COMMAND_MODULES:
        importlib.import_module(f"scaling.commands.{name}").register(subparsers)
    return parser


def _requested_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line, or None (then help or an error lists them all)."""
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMAND_MODULES else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_requested_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except InputError as error:
        for line in str(error).splitlines() or [""]:  # several errors: each on its own line, each prefixed
            print(f"scaling {args.command}: error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`scaling fit ... | head`): stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0
    except OSError as error:  # the environment: disk full, read-only file system, no permission, I/O error
        where = f"{error.filename}: " if error.filename else ""
        print(f"scaling {args.command}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"scaling {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
