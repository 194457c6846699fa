"""The command's surface: help for every subcommand, and the one-line error / exit 2 contract."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scaling.cli import COMMAND_MODULES, build_parser, main

COMMANDS = ("data", "train", "sweep", "fit", "fit2d", "plot", "demo", "evaluate")  # the documented surface


def test_help_lists_every_command(capsys):
    """Every registered subcommand (cli.COMMAND_MODULES, the documented ones among them) is in the parser, listed by
    --help, and answers its own --help."""
    assert set(COMMANDS) <= set(COMMAND_MODULES)
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == list(COMMAND_MODULES)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    listed = re.findall(r"^ {4}(\S+) ", capsys.readouterr().out, flags=re.MULTILINE)  # the COMMAND table
    assert listed == list(COMMAND_MODULES)
    for name in COMMAND_MODULES:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: scaling {name} "), name


def test_console_script_runs():
    """The `scaling` entry point that pip installs beside the interpreter (pyproject's [project.scripts])."""
    script = shutil.which("scaling", path=str(Path(sys.executable).parent))
    assert script, f"no `scaling` console script in {Path(sys.executable).parent}: install the package (pip install -e .)"
    proc = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("scaling ")
    proc = subprocess.run([script, "fit", "--x"], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage: scaling fit" in proc.stderr


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
