"""Data commands and training on bad stores, bad options and bad output paths: one line, exit 2 (bad input) or
exit 1 (a full or read-only file system), and nothing half-written."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from fs_helpers import fill, remount_read_only, tiny_tmpfs

from scaling.cli import main
from scaling.data.emt import generate
from scaling.data.io import write_extxyz


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("emt") / "emt.extxyz"
    write_extxyz(generate(24, seed=1, elements=("Al", "Cu"), workers=1), path)
    return path


@pytest.fixture(scope="module")
def store(source):
    out = source.parent / "store"
    assert main(["-q", "data", "build", str(source), "--cutoff", "4.5", "--out", str(out)]) == 0
    return out


def one_line(capsys, *needles) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def spoiled(store, tmp_path, name: str, spoil) -> str:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    spoil(copy / name)
    return str(copy)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def cut_header(path):
    path.write_bytes(path.read_bytes()[:20])


def one_row_short(path):
    np.save(path, np.load(path)[:-1])


@pytest.mark.parametrize("name, spoil, needle", [
    ("manifest.json", lambda p: p.write_text("{not json"), "manifest.json: not valid JSON"),
    ("manifest.json", lambda p: p.write_text("[1, 2]"), "manifest.json: not a manifest mapping"),
    ("manifest.json", lambda p: p.write_text('{"format": "scaling-graph-store/1"}'), "field n_structures=None"),
    ("pos.npy", truncate, "pos.npy: not a readable array"),
    ("edge_index.npy", cut_header, "edge_index.npy: not a readable array"),
    ("energy.npy", one_row_short, "energy.npy: 23 rows, expected 24"),
])
@pytest.mark.parametrize("command", ["info", "check", "train"])
def test_spoiled_store_is_refused_in_one_line(store, tmp_path, capsys, name, spoil, needle, command):
    path = spoiled(store, tmp_path, name, spoil)
    if command == "train":
        argv = ["train", "--data", path, "--params", "2000", "--max-epochs", "1", "--device", "cpu",
                "--out", str(tmp_path / "run")]
    else:
        argv = ["data", command, path]
    assert main(argv) == 2
    one_line(capsys, name, needle)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, needle", [
    (["--n", "100000000000000000000"], "more than this machine's"),
    (["--n", "0"], "--n 0: need at least 1"),
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--workers", "-2"], "--workers -2: must be at least 1"),
    (["--elements", ""], "--elements '': an empty element name"),
])
def test_emt_options_are_refused_before_any_work(tmp_path, capsys, extra, needle):
    argv = ["data", "emt", "--n", "2", "--out", str(tmp_path / "x.extxyz"), *extra]
    assert main(argv) == 2
    one_line(capsys, needle)
    assert list(tmp_path.iterdir()) == []


def test_emt_output_must_be_an_extxyz_file(tmp_path, capsys):
    assert main(["data", "emt", "--n", "2", "--out", str(tmp_path / "name")]) == 2
    one_line(capsys, "must end in .extxyz or .xyz")
    (tmp_path / "d.extxyz").mkdir()
    assert main(["data", "emt", "--n", "2", "--out", str(tmp_path / "d.extxyz")]) == 2
    one_line(capsys, "d.extxyz: is a directory")
    os.mkfifo(tmp_path / "f.xyz")
    assert main(["data", "emt", "--n", "2", "--out", str(tmp_path / "f.xyz")]) == 2
    one_line(capsys, "f.xyz: is a FIFO")
    assert (tmp_path / "d.extxyz").is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["d.extxyz", "f.xyz"]


@pytest.mark.parametrize("cutoff, needle", [("1e6", "--cutoff 1e+06: needs about"), ("inf", "finite"),
                                            ("nan", "finite")])
def test_build_cutoff_is_bounded(source, tmp_path, capsys, cutoff, needle):
    assert main(["data", "build", str(source), "--cutoff", cutoff, "--out", str(tmp_path / "s")]) == 2
    one_line(capsys, needle)
    assert list(tmp_path.iterdir()) == []


def test_build_never_replaces_what_is_not_a_store(source, tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    assert main(["data", "build", str(source), "--out", str(tmp_path / "file"), "--force"]) == 2
    one_line(capsys, "is not a folder")
    (tmp_path / "home" / "keep").mkdir(parents=True)
    assert main(["data", "build", str(source), "--out", str(tmp_path / "home"), "--force"]) == 2
    one_line(capsys, "not a graph store (no manifest.json) and not empty")
    assert (tmp_path / "file").read_text() == "mine" and (tmp_path / "home" / "keep").is_dir()


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_full_or_read_only_disk_gives_one_line_and_exit_1(source, store, tmp_path, capsys, monkeypatch, fault):
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    with tiny_tmpfs(tmp_path / "mnt") as mnt:
        if fault == "full":
            fill(mnt)
        else:
            remount_read_only(mnt)
        message = "No space left on device" if fault == "full" else "Read-only file system"
        assert main(["-q", "data", "emt", "--n", "30", "--workers", "1", "--out", str(mnt / "emt.extxyz")]) == 1
        one_line(capsys, str(mnt / "emt.extxyz"), message)
        assert main(["-q", "data", "build", str(source), "--cutoff", "4.5", "--out", str(mnt / "store")]) == 1
        one_line(capsys, str(mnt / "store"), message)
        assert main(["-q", "train", "--data", str(store), "--train-size", "12", "--params", "2000", "--max-epochs",
                     "1", "--device", "cpu", "--threads", "1", "--out", str(mnt / "run")]) == 1
        one_line(capsys, str(mnt / "run"), message)
        assert sorted(p.name for p in mnt.iterdir()) in ([], ["filler"], ["filler", "run"])
