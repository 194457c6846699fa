"""Shared fixtures: the reference-data folder, and the --run-slow switch for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scaling.reference import reference_data_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow (CI does)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow end-to-end test: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def reference_data() -> Path:
    folder = reference_data_dir()
    if folder is None:
        pytest.skip("shared reference data absent (set SCALING_REFERENCE_DATA or place ../shared beside the checkout)")
    return folder


SLURM_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm_cluster.sh"
SLURM_PACKAGES = ("munge", "slurmctld", "slurmd", "slurmdbd", "slurm-client", "mariadb-server")


def _installed(package: str) -> bool:
    return subprocess.run(["dpkg", "-s", package], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """Start a localhost SLURM with accounting for this module; stop it (by PID files) afterwards."""
    if shutil.which("dpkg") is None or not all(_installed(p) for p in SLURM_PACKAGES):
        if os.geteuid() != 0:
            pytest.skip("SLURM packages missing and not root: cannot apt-get install them")
        if shutil.which("apt-get") is None:
            pytest.skip("SLURM packages missing and no apt-get to install them")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(SLURM_SCRIPT), "start", str(state)], capture_output=True, text=True,
                             timeout=600)
    assert started.returncode == 0, started.stderr
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "etc" / "slurm.conf")
    try:
        yield state
    finally:
        subprocess.run(["bash", str(SLURM_SCRIPT), "stop", str(state)], capture_output=True, timeout=120)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
