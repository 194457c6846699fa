"""Bounds from the machine: refuse, before any work, a request whose memory estimate exceeds physical memory."""

from __future__ import annotations

import os

from scaling.errors import InputError


def physical_memory() -> int:
    """Bytes of physical memory on this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def require_memory(needed: float, what: str, hint: str) -> None:
    """InputError (one line: `what`, the estimate, the machine's memory, `hint`) when `needed` bytes exceed it."""
    available = physical_memory()
    if needed > available:
        raise InputError(f"{what}: needs about {needed / 1e9:.3g} GB of memory, more than this machine's "
                         f"{available / 1e9:.3g} GB; {hint}")
