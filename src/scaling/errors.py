"""The error types the CLI turns into a one-line message: InputError (exit 2); OSError is the environment (exit 1)."""


class InputError(Exception):
    """Bad input from a file, a flag or a spec; the message names the file, field and value in one line.

    `field`, `value` and `why` may carry the same facts structured, so a caller (e.g. sweep spec validation) can
    re-word the error without parsing the message."""

    def __init__(self, message: str = "", *, field: str | None = None, value=None, why: str | None = None):
        super().__init__(message)
        self.field, self.value, self.why = field, value, why


class CheckpointError(InputError):
    """A checkpoint file that cannot be read safely (foreign code, another format, torn or truncated).

    Its own type so that a caller that can recover (a sweep cell restarting from scratch) can catch just this."""
