"""Atomic writes: whole files only, the ordinary permissions, and no temp files left behind on failure."""

from __future__ import annotations

import os
import stat

import pytest

from scaling.atomic import atomic_write_json, atomic_write_text


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
