"""Facts about the machine this process runs on, asked in one place: cores, memory, and the memory bound that
refuses, before any work, a request whose estimate exceeds physical memory."""

from __future__ import annotations

import os

from scaling.errors import InputError


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM allocation), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def physical_memory() -> int:
    """Bytes of physical memory on this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def require_memory(needed: float, what: str, hint: str) -> None:
    """InputError (one line: `what`, the estimate, the machine's memory, `hint`) when `needed` bytes exceed it."""
    available = physical_memory()
    if needed > available:
        raise InputError(f"{what}: needs about {needed / 1e9:.3g} GB of memory, more than this machine's "
                         f"{available / 1e9:.3g} GB; {hint}")
