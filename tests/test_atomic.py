"""Atomic writes: whole files only, the ordinary permissions, and no temp files left behind on failure."""

from __future__ import annotations

import errno
import os
import socket
import stat

import pytest
from fs_helpers import fill, remount_read_only, tiny_tmpfs

from scaling.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, output_file
from scaling.errors import InputError


def test_written_file_has_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_json(target, {"x": 1})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"x": float("nan")})
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"x":1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


# -- only regular files are replaced; symlinks are written through; the environment fails in one line ---------------
def test_fifo_directory_and_socket_targets_are_refused_and_survive(tmp_path):
    fifo, folder, sock_path = tmp_path / "fifo", tmp_path / "dir", tmp_path / "sock"
    os.mkfifo(fifo)
    folder.mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        for target, kind in ((fifo, "a FIFO"), (folder, "a directory"), (sock_path, "a socket")):
            with pytest.raises(InputError, match=f"{target.name}: is {kind}, not a regular file"):
                atomic_write_text(target, "x")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir() and stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    finally:
        sock.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo", "sock"]  # no temp files either


def test_device_node_is_refused_and_survives(tmp_path):
    # a node of our own (never the machine's /dev/full: a regression would replace it with a regular file)
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    node = tmp_path / "full"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    with pytest.raises(InputError, match="full: is a character device, not a regular file"):
        atomic_write_json(node, {"x": 1})
    assert stat.S_ISCHR(os.lstat(node).st_mode) and os.major(os.lstat(node).st_rdev) == 1
    (tmp_path / "link").symlink_to(node)
    with pytest.raises(InputError, match="is a character device"):
        atomic_write_text(tmp_path / "link", "x")
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_symlink_is_written_through_to_its_final_target(tmp_path):
    real = tmp_path / "data" / "real.json"
    real.parent.mkdir()
    real.write_text("old")
    (tmp_path / "hop").symlink_to(real)
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "hop")  # a chain: link -> hop -> real
    atomic_write_text(link, "new")
    assert link.is_symlink() and (tmp_path / "hop").is_symlink()
    assert real.read_text() == "new" and link.read_text() == "new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.json"]
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "data" / "made.json")
    atomic_write_text(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "data" / "made.json").read_text() == "made"
    to_fifo = tmp_path / "to-fifo"
    os.mkfifo(tmp_path / "fifo")
    to_fifo.symlink_to(tmp_path / "fifo")
    with pytest.raises(InputError, match="to-fifo .->.*fifo.: is a FIFO"):
        atomic_write_text(to_fifo, "x")


def test_symlink_loop_and_file_on_the_way_are_refused(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(InputError, match="cannot be"):
        atomic_write_text(tmp_path / "a", "x")
    (tmp_path / "file").write_text("mine")
    with pytest.raises(InputError, match="is not a folder"):
        output_file(tmp_path / "file" / "sub" / "out.json")
    assert (tmp_path / "file").read_text() == "mine"


def test_full_and_read_only_file_systems_raise_oserror_naming_the_target(tmp_path):
    with tiny_tmpfs(tmp_path / "mnt") as mnt:
        atomic_write_text(mnt / "keep.txt", "old")
        fill(mnt)
        with pytest.raises(OSError) as full:
            atomic_write_bytes(mnt / "keep.txt", b"x" * 200_000)
        assert full.value.errno == errno.ENOSPC and full.value.filename == str(mnt / "keep.txt")
        assert (mnt / "keep.txt").read_text() == "old"
        (mnt / "filler").unlink()
        remount_read_only(mnt)
        with pytest.raises(OSError) as read_only:
            atomic_write_text(mnt / "keep.txt", "new")
        assert read_only.value.errno == errno.EROFS and read_only.value.filename == str(mnt / "keep.txt")
        assert (mnt / "keep.txt").read_text() == "old"
        assert sorted(p.name for p in mnt.iterdir()) == ["keep.txt"]
