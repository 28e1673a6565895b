"""Read and write IDX files, the format MNIST and Fashion-MNIST are distributed in.

An IDX file is a small header followed by a dense array, every number big-endian::

    offset  size       field
    0       2 bytes    zero        always 0x0000 (the first half of the "magic number")
    2       1 byte     type_code   element type, see TYPE_CODES below
    3       1 byte     ndim        number of dimensions
    4       4*ndim     dims        size of each dimension, unsigned 32-bit, outermost first
    4+4*ndim           payload     prod(dims) elements in C (row-major) order, big-endian

So the magic number of MNIST's image files, ``00 00 08 03``, says "unsigned bytes, three
dimensions" and is followed by ``10000, 28, 28``. The file may be gzip-compressed (``.gz``); the
reader recognises gzip by its own two magic bytes ``1f 8b``, not by the file name.

The reader checks every field against the payload before touching it, so a damaged file raises
:class:`~tinybgn.data.errors.IDXFormatError` with the reason, never an ``IndexError`` from NumPy.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tinybgn.data.errors import ContentSizeError, IDXFormatError
from tinybgn.files import atomic_write_bytes

# IDX type code -> big-endian NumPy dtype.
TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short (2 bytes)
    0x0C: np.dtype(">i4"),  # int (4 bytes)
    0x0D: np.dtype(">f4"),  # float (4 bytes)
    0x0E: np.dtype(">f8"),  # double (8 bytes)
}

GZIP_MAGIC = b"\x1f\x8b"
_PREFIX = struct.Struct(">HBB")  # zero, type_code, ndim
_DIM = struct.Struct(">I")
_MAX_DIM = 2**32 - 1


@dataclass(frozen=True)
class IDXHeader:
    """The decoded header of an IDX file."""

    type_code: int
    shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype:
        """Big-endian dtype of the payload elements."""
        return TYPE_CODES[self.type_code]

    @property
    def header_size(self) -> int:
        """Bytes before the payload: the 4-byte prefix plus one 4-byte size per dimension."""
        return _PREFIX.size + _DIM.size * len(self.shape)

    @property
    def payload_size(self) -> int:
        """Bytes the payload must have: number of elements times element size."""
        return math.prod(self.shape) * self.dtype.itemsize

    def pack(self) -> bytes:
        """Encode the header as the bytes that start an IDX file."""
        dims = b"".join(_DIM.pack(n) for n in self.shape)
        return _PREFIX.pack(0, self.type_code, len(self.shape)) + dims


def type_code_for(dtype: np.dtype) -> int:
    """IDX type code for ``dtype`` (any byte order); IDXFormatError if IDX cannot store it."""
    dtype = np.dtype(dtype)
    for code, idx_dtype in TYPE_CODES.items():
        if dtype.kind == idx_dtype.kind and dtype.itemsize == idx_dtype.itemsize:
            return code
    supported = ", ".join(str(d.newbyteorder("=")) for d in TYPE_CODES.values())
    raise IDXFormatError(
        f"IDX cannot store dtype {dtype}; it stores {supported}. "
        f"Convert first, e.g. array.astype(np.int32) or array.astype(np.float64)."
    )


def parse_header(data: bytes, source: str = "<bytes>") -> IDXHeader:
    """Decode and check the header at the start of ``data`` (the decompressed file content).

    Raises IDXFormatError when the magic number is wrong, the type code unknown, the header cut
    short, or the payload length differs from what the dimensions promise.
    """
    if len(data) < _PREFIX.size:
        raise IDXFormatError(
            f"{source}: {len(data)} bytes is too short for an IDX file (the header alone is "
            f"at least {_PREFIX.size} bytes); the file is truncated or empty. Download it again."
        )
    zero, type_code, ndim = _PREFIX.unpack_from(data, 0)
    magic = data[: _PREFIX.size].hex(" ")
    if zero != 0:
        raise IDXFormatError(
            f"{source}: wrong magic number {magic}; an IDX file starts with two zero bytes "
            f"(e.g. 00 00 08 03 for MNIST images). This is not an IDX file, or it is damaged "
            f"(a gzip file that lost its first bytes?)."
        )
    if type_code not in TYPE_CODES:
        known = ", ".join(f"0x{c:02X}" for c in TYPE_CODES)
        raise IDXFormatError(
            f"{source}: unknown IDX element type 0x{type_code:02X} in magic number {magic} "
            f"(known types: {known}); the file is damaged or not IDX."
        )
    header_size = _PREFIX.size + _DIM.size * ndim
    if len(data) < header_size:
        raise IDXFormatError(
            f"{source}: the header announces {ndim} dimensions ({header_size} header bytes) "
            f"but the file has only {len(data)} bytes; it is truncated."
        )
    shape = tuple(_DIM.unpack_from(data, _PREFIX.size + _DIM.size * i)[0] for i in range(ndim))
    header = IDXHeader(type_code, shape)
    payload = len(data) - header_size
    if payload != header.payload_size:
        what = "truncated" if payload < header.payload_size else "followed by extra bytes"
        raise IDXFormatError(
            f"{source}: the header promises shape {shape} of {header.dtype.newbyteorder('=')} "
            f"= {header.payload_size} payload bytes, but the file has {payload}; it is {what} "
            f"or its header is damaged. Download it again."
        )
    return header


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX bytes into a new native-endian, writable array."""
    header = parse_header(data, source)
    flat = np.frombuffer(
        data, dtype=header.dtype, count=math.prod(header.shape), offset=header.header_size
    )
    return flat.reshape(header.shape).astype(header.dtype.newbyteorder("="))


def read_bytes(path: str | os.PathLike, max_size: int | None = None) -> bytes:
    """The decompressed content of ``path``: gunzipped if it starts with gzip's magic, else as is.

    Checksums are taken over these bytes, since mirrors serve the same content compressed
    differently. A truncated or corrupt gzip stream raises IDXFormatError. With ``max_size``,
    the content is decompressed as a stream and reading stops after ``max_size + 1`` bytes: a
    file whose content is larger (a wrong file, or a small gzip "bomb" that expands to
    gigabytes) raises IDXFormatError having used at most about ``max_size`` bytes of memory.
    """
    with open(path, "rb") as f:
        return decompressed(f, max_size, source=str(path))


def decompressed(f: BinaryIO, max_size: int | None = None, source: str = "<bytes>") -> bytes:
    """The content of the open binary file ``f`` (gzip or not), at most ``max_size`` bytes.

    See :func:`read_bytes`; ``f`` must be seekable (a file or ``io.BytesIO``).
    """
    limit = -1 if max_size is None else max_size + 1
    compressed = f.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    f.seek(0)
    try:
        if compressed:
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                content = stream.read(limit)  # decompresses chunk by chunk, stops at limit
        else:
            content = f.read(limit)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise IDXFormatError(
            f"{source}: corrupt or truncated gzip data ({err}); the download was probably cut "
            f"short. Delete the file and download it again."
        ) from err
    if max_size is not None and len(content) > max_size:
        raise ContentSizeError(
            f"{source}: the content is larger than the {max_size} bytes this file should have, "
            f"so it was not read further (a wrong file, or a damaged or malicious archive). "
            f"Delete it and download it again."
        )
    return content


def read_idx(path: str | os.PathLike, max_size: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Returns an array with the file's shape and element type, in native byte order
    (e.g. ``uint8`` of shape ``(10000, 28, 28)`` for MNIST's test images).

    Raises ``FileNotFoundError`` when ``path`` does not exist and
    :class:`~tinybgn.data.errors.IDXFormatError` when its content is not valid IDX (or larger
    than ``max_size`` bytes, see :func:`read_bytes`).
    """
    return parse_idx(read_bytes(path, max_size), source=str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as uncompressed IDX bytes (header then big-endian payload)."""
    array = np.asarray(array)
    code = type_code_for(array.dtype)
    if array.ndim > 255 or any(n > _MAX_DIM for n in array.shape):
        raise IDXFormatError(
            f"IDX allows at most 255 dimensions of at most {_MAX_DIM} each, got {array.shape}."
        )
    header = IDXHeader(code, tuple(int(n) for n in array.shape))
    payload = np.ascontiguousarray(array, dtype=header.dtype).tobytes()
    return header.pack() + payload


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` to ``path`` as an IDX file; gzip it when ``path`` ends in ``.gz``.

    ``compress`` overrides the file-name rule. Supported dtypes: uint8, int8, int16, int32,
    float32, float64 (any byte order; the file is always big-endian). The file is written to a
    temporary name in the same folder and renamed into place, so a reader never sees half a file
    (:func:`tinybgn.files.atomic_write`: the mode is 0666 minus the umask, as with ``open()``).
    Returns the path written.
    """
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    content = idx_bytes(array)
    if compress:
        content = gzip.compress(content, mtime=0)  # mtime=0: same array, same bytes
    return atomic_write_bytes(path, content)
