"""The command's surface: help for every subcommand, and the one-line error / exit 2 contract."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scaling.cli import COMMAND_MODULES, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert name in out


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.startswith("scaling ")
