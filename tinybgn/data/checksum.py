"""Checksums of file *content*: the MD5 of the decompressed bytes.

Mirrors compress the same IDX content differently (gzip stores a timestamp and a compression
level), so checking the ``.gz`` archive would reject good copies. We check what gets loaded.
MD5 is not a defence against tampering here, only against damaged or mixed-up files, which is
what the published checksums are for.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from tinybgn.data.errors import ChecksumError
from tinybgn.data.idx import decompressed, read_bytes
from tinybgn.data.registry import FileSpec, find_md5_owner


def md5_hex(content: bytes) -> str:
    """Hex MD5 digest of ``content``."""
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def check_content(content: bytes, expected_md5: str, source: str | os.PathLike) -> None:
    """Raise :class:`ChecksumError` unless ``content`` has MD5 ``expected_md5``."""
    actual = md5_hex(content)
    if actual == expected_md5:
        return
    owner = find_md5_owner(actual)
    hint = f" It is the content of {owner}: a file of another dataset?" if owner else ""
    raise ChecksumError(
        f"{source}: checksum mismatch: the decompressed content has MD5 {actual}, expected "
        f"{expected_md5}.{hint} The file was not loaded and has not been changed. Delete or move "
        f"it and download again (tinybgn data download <name> --force keeps it as <file>.bad)."
    )


def read_verified(path: str | os.PathLike, file_spec: FileSpec) -> bytes:
    """The decompressed content of ``path``, after checking it against ``file_spec``'s MD5.

    Decompression stops past ``file_spec.size`` bytes (when known), so a file of the wrong
    content never costs more memory than the right one. Raises IDXFormatError for a corrupt
    gzip stream or a content that is too large, and ChecksumError for a content mismatch.
    """
    content = read_bytes(Path(path), file_spec.size)
    check_content(content, file_spec.md5, path)
    return content


def verify_bytes(raw: bytes, file_spec: FileSpec, source: str) -> bytes:
    """Like :func:`read_verified` for a file's bytes already in memory (e.g. a download)."""
    content = decompressed(io.BytesIO(raw), file_spec.size, source=source)
    check_content(content, file_spec.md5, source)
    return content
