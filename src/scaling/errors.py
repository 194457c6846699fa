"""The one error type the CLI turns into a one-line message and exit code 2."""


class InputError(Exception):
    """Bad input from a file, a flag or a spec; the message names the file, field and value in one line."""
