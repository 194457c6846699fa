"""One module per `scaling` subcommand; each exposes register(subparsers) and sets `handler` on its parser."""
