"""Writing files safely: write to a temporary file beside the target, then rename it over.

``os.replace`` is atomic on POSIX and Windows, so a reader (or a crash, or ``kill -9``) sees the
old file or the new one, never a torn one. ``tempfile.mkstemp`` creates its file with mode 0600;
:func:`atomic_write` gives the result the mode an ordinary ``open()`` would (0666 minus the
umask), so results stay readable by the group and others when the umask says so.

Temporary files are named ``<target>.<random>.part``; :func:`remove_stale_parts` deletes the ones
a killed process left behind.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read the umask is to set it and set it back
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[BinaryIO]:
    """``with atomic_write(path) as f: f.write(...)`` - ``path`` appears only when the block ends
    without an exception, with mode ``0o666 & ~umask``; on an exception nothing is left behind."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, fsync=fsync) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def remove_stale_parts(folder: str | os.PathLike, older_than: float = 3600.0) -> list[Path]:
    """Delete ``*.part`` files in ``folder`` not modified for ``older_than`` seconds (left by a
    killed writer; a live writer touches its file continually). Returns the removed paths."""
    removed, now = [], time.time()
    for part in Path(folder).glob("*.part"):
        try:
            if now - part.stat().st_mtime >= older_than:
                part.unlink()
                removed.append(part)
        except FileNotFoundError:  # another process removed or renamed it meanwhile
            continue
    return removed
