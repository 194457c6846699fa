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


def test_unknown_command_is_refused_with_the_list(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "fit" in capsys.readouterr().err


def test_running_one_command_imports_only_its_module():
    code = (
        "import sys; from scaling.cli import main\n"
        "try:\n    main(['fit', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('scaling.commands.')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "['scaling.commands.fit']"
