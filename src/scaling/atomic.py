"""Atomic file writes: a temp file in the same folder, then os.replace, so readers never see half a file.

Only a regular file (or nothing) is ever replaced: a directory, device, FIFO or socket at the output path is
refused (InputError), and a symlink is followed to its final target, which is written atomically (the link stays).
`output_file` is that check on its own, for commands to run on every output path before any work starts.
An environment failure (disk full, read-only file system) is raised as OSError naming the output path; the CLI
reports it in one line with exit code 1.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from scaling.errors import InputError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def default_file_mode() -> int:
    """0o666 less the process umask: what open() would have given (mkstemp's own 0o600 hides files from others)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def output_file(path: str | os.PathLike, what: str = "output") -> Path:
    """The regular file a write to `path` replaces: `path`, or the final target of a symlink at `path`.

    InputError (one line naming the path) when a directory, device, FIFO or socket sits there, when a symlink
    loops, or when a folder on the way is a file. Nothing is created."""
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        mode = None  # a file on the way: reported below
    except OSError as error:  # ELOOP and the like
        raise InputError(f"{path}: cannot be used as the {what} file ({error.strerror})") from None
    if mode is not None and stat.S_ISLNK(mode):
        raise InputError(f"{path}: a symlink that loops or cannot be followed; not used as the {what} file")
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        shown = f"{path} (-> {target})" if target != path else f"{path}"
        raise InputError(f"{shown}: is {kind}, not a regular file; refusing to replace it with the {what} file")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{path}: {parent} is not a folder, so the {what} file cannot be written there")
    return target


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` so that `path` is either the old file or the whole new one."""
    target = output_file(path)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, target)
    except OSError as error:  # disk full, read-only, no permission: name the file the user asked for
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")
