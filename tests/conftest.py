"""Shared fixtures: the reference-data folder, and the --run-slow switch for end-to-end tests."""

from __future__ import annotations

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
