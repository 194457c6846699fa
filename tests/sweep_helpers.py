"""Helpers shared by the sweep tests: a tiny local sweep, a held cell lock, a folder snapshot, status after a kill."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

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


TINY = {
    "name": "tiny",
    "dataset": {"emt": {"n": 60, "seed": 1}, "cutoff": 4.0},
    "split": {"val_fraction": 0.15, "test_fraction": 0.15},
    "axes": {"train_size": [8, 16], "params": [560], "arch": ["twobody"], "seed": [0]},
    "training": {"max_epochs": 2, "batch_size": 4, "eval_batch_size": 32, "warmup_steps": 2,
                 "checkpoint_every_steps": 2},
    "executor": {"kind": "local", "local": {"max_parallel": 2}},
}


def hold_lock(path):
    """A separate process holding the cell's lock, as a training worker does."""
    code = ("import fcntl, sys, time; h = open(sys.argv[1], 'a'); fcntl.flock(h, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def snapshot(path: Path) -> dict[str, str]:
    """Every file under path with the sha256 of its bytes (and every folder), to compare byte for byte."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(path.rglob("*"))}
