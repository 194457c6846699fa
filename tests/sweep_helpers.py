"""Helpers for tests that kill real sweeps."""

from __future__ import annotations

import time

from scaling.sweep import sweep_status


def status_once_workers_are_gone(run_dir, seconds: float = 30.0) -> dict:
    """`sweep status` after a SIGKILL of the process group: the driver is reaped at once, but on a loaded machine
    its workers may need a moment of CPU to exit, and the kernel drops their cell locks only then."""
    deadline = time.time() + seconds
    status = sweep_status(run_dir)
    while status["counts"]["running"] and time.time() < deadline:
        time.sleep(0.2)
        status = sweep_status(run_dir)
    return status
