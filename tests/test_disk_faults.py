"""A full or read-only disk under the outputs of `sweep run`, `sweep collect`, `fit` and `fit --plot`: one line naming
the path, exit 1 (the environment, not the input), no traceback (issue 11 item 10). Real file systems: a tiny tmpfs
filled to its last block, or remounted read-only (root only; elsewhere the tests skip and say why)."""

from __future__ import annotations

import pytest
import yaml
from fs_helpers import fill, remount_read_only, tiny_tmpfs
from table_helpers import write_grid

from scaling.cli import main

MESSAGES = {"full": "No space left on device", "read-only": "Read-only file system"}


def one_line_naming(capsys, *needles: str) -> None:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def faulty(mnt, fault: str) -> None:
    fill(mnt) if fault == "full" else remount_read_only(mnt)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_fit_outputs_on_a_faulty_disk(tmp_path, capsys, fault):
    table = write_grid(tmp_path / "grid.csv")
    with tiny_tmpfs(tmp_path / "mnt") as mnt:
        faulty(mnt, fault)
        assert main(["-q", "fit", str(table), "--x", "train_size", "--y", "val_loss", "--group", "n_params",
                     "--law", "power", "--json", str(mnt / "fit.json")]) == 1
        one_line_naming(capsys, str(mnt / "fit.json"), MESSAGES[fault])
        assert main(["-q", "fit", str(table), "--x", "train_size", "--y", "val_loss", "--group", "n_params",
                     "--law", "power", "--plot", str(mnt / "fig.pdf")]) == 1
        one_line_naming(capsys, str(mnt), MESSAGES[fault])


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_sweep_run_and_collect_on_a_faulty_disk(tmp_path, capsys, monkeypatch, fault):
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "disk", "dataset": {"emt": {"n": 24, "seed": 0, "elements": ["Cu"]}, "cutoff": 4.0},
        "axes": {"train_size": [8], "params": [541], "arch": ["twobody"], "seed": [0]},
        "training": {"max_epochs": 1, "batch_size": 4, "warmup_steps": 1}, "executor": {"kind": "inline"}}))
    assert main(["-q", "sweep", "run", str(spec), "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    with tiny_tmpfs(tmp_path / "mnt") as mnt:
        faulty(mnt, fault)
        assert main(["-q", "sweep", "collect", str(tmp_path / "run"), "--no-coverage", "-o",
                     str(mnt / "results.csv")]) == 1
        one_line_naming(capsys, str(mnt / "results.csv"), MESSAGES[fault])
        assert main(["-q", "sweep", "run", str(spec), "--out", str(mnt / "run")]) == 1
        one_line_naming(capsys, str(mnt), MESSAGES[fault])
