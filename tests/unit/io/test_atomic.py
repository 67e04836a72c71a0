"""Atomic writes: the file appears whole or not at all, with the usual mode (issue 15.11)."""

from __future__ import annotations

import os
import stat

import pytest

from robustbench_liver.io.atomic import atomic_path, atomic_write_bytes


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_mode_is_what_a_plain_open_gives(tmp_path, umask):
    atomic_write_bytes(tmp_path / "a" / "atomic.bin", b"x")
    (tmp_path / "plain.bin").write_bytes(b"x")
    mode = stat.S_IMODE((tmp_path / "a" / "atomic.bin").stat().st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain.bin").stat().st_mode)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target, suffix=".txt") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".txt") and tmp.exists()
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_replaces_an_existing_file(tmp_path):
    atomic_write_bytes(tmp_path / "f", b"one")
    atomic_write_bytes(tmp_path / "f", b"two")
    assert (tmp_path / "f").read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
