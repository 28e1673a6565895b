"""tinybgn.files: atomic writes keep the umask's mode and leave nothing behind on failure."""

from __future__ import annotations

import os
import stat

import pytest

from tinybgn.files import atomic_write, atomic_write_text, remove_stale_parts


def test_atomic_write_gives_the_mode_open_would_give(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_atomic_write_leaves_old_file_and_no_part_on_error(tmp_path):
    target = tmp_path / "b.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write(b"new, half written")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.glob("*.part")) == []


def test_remove_stale_parts_keeps_fresh_ones(tmp_path):
    stale, fresh = tmp_path / "x.gz.abc.part", tmp_path / "y.gz.def.part"
    stale.write_bytes(b"1")
    fresh.write_bytes(b"2")
    os.utime(stale, (0, 0))
    assert remove_stale_parts(tmp_path, older_than=60) == [stale]
    assert not stale.exists() and fresh.exists()
