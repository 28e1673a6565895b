"""The IDX reader and writer: round trips for every element type, and damaged files.

A damaged file must always raise IDXFormatError with a readable reason - never an IndexError,
a struct.error or a zlib.error from inside the standard library or NumPy.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from tinybgn.data import IDXFormatError, read_idx, write_idx
from tinybgn.data.idx import TYPE_CODES, idx_bytes, parse_idx
from tinybgn.errors import TinyBGNError

IDX_DTYPES = [np.dtype(d) for d in ("uint8", "int8", "int16", "int32", "float32", "float64")]

# Any shape, including 0-d and empty dimensions; sizes kept small so examples run fast.
shapes = array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
idx_arrays = st.sampled_from(IDX_DTYPES).flatmap(
    lambda dt: arrays(dt, shapes, elements={"allow_nan": True} if dt.kind == "f" else None)
)
# Non-empty arrays, for corruptions that need a payload.
nonempty_arrays = st.sampled_from(IDX_DTYPES).flatmap(
    lambda dt: arrays(dt, array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
)


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    """Same dtype, shape and bits (NaN payloads included)."""
    assert a.dtype == b.dtype and a.shape == b.shape, f"{a.dtype}{a.shape} != {b.dtype}{b.shape}"
    assert a.tobytes() == b.tobytes()


@given(array=idx_arrays, compress=st.booleans(), big_endian=st.booleans())
def test_write_then_read_gives_back_every_dtype_and_shape(
    tmp_path_factory, array, compress, big_endian
):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    source = array.astype(array.dtype.newbyteorder(">")) if big_endian else array
    write_idx(path, source)
    back = read_idx(path)
    assert_same(back, array.astype(array.dtype.newbyteorder("=")))
    assert back.flags.writeable
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no .part left behind


def test_header_fields_are_big_endian_and_named_as_in_the_format():
    data = idx_bytes(np.arange(6, dtype=np.int16).reshape(2, 3))
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    assert (zero, type_code, ndim) == (0, 0x0B, 2)
    assert struct.unpack(">II", data[4:12]) == (2, 3)
    assert struct.unpack(">6h", data[12:]) == (0, 1, 2, 3, 4, 5)


def test_gzip_is_recognised_by_content_not_by_file_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "compressed-but-no-gz-suffix").write_bytes(gzip.compress(idx_bytes(array)))
    (tmp_path / "raw-but-named.gz").write_bytes(idx_bytes(array))
    assert_same(read_idx(tmp_path / "compressed-but-no-gz-suffix"), array)
    assert_same(read_idx(tmp_path / "raw-but-named.gz"), array)


def test_gzip_output_is_deterministic(tmp_path):
    array = np.arange(100, dtype=np.float32)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@pytest.mark.parametrize("dtype", ["int64", "uint16", "bool", "complex64", "float16"])
def test_writing_a_dtype_idx_cannot_store_says_what_to_convert_to(tmp_path, dtype):
    with pytest.raises(IDXFormatError, match="astype"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=dtype))
    assert list(tmp_path.iterdir()) == []


def test_idx_format_error_is_a_tinybgn_error_and_a_value_error():
    assert issubclass(IDXFormatError, TinyBGNError) and issubclass(IDXFormatError, ValueError)


# --- damaged files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "too short"),
        (b"\x00\x00\x08", "too short"),
        (b"\x08\x03\x00\x00" + b"\x00" * 12, "wrong magic number"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX element type 0x07"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "announces 3 dimensions"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "promises shape \\(5,\\).*truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01abc", "followed by extra bytes"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt or truncated gzip"),
    ],
)
def test_each_kind_of_damage_has_its_own_message(tmp_path, content, reason):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(IDXFormatError, match=reason) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_huge_header_dimensions_are_rejected_before_allocating():
    data = struct.pack(">HBB3I", 0, 0x0E, 3, 2**32 - 1, 2**32 - 1, 2**32 - 1) + b"\x00" * 8
    with pytest.raises(IDXFormatError, match="header is damaged"):
        parse_idx(data)


@given(array=nonempty_arrays, data=st.data())
def test_wrong_magic_always_raises(array, data):
    content = bytearray(idx_bytes(array))
    content[:2] = data.draw(st.binary(min_size=2, max_size=2).filter(lambda b: b != b"\0\0"))
    with pytest.raises(IDXFormatError, match="magic"):
        parse_idx(bytes(content))


@given(array=idx_arrays, compress=st.booleans(), data=st.data())
def test_any_truncation_raises(tmp_path_factory, array, compress, data):
    content = idx_bytes(array)
    if compress:
        content = gzip.compress(content)
    cut = data.draw(st.integers(0, len(content) - 1), label="keep bytes")
    path = tmp_path_factory.mktemp("cut") / "cut.idx"
    path.write_bytes(content[:cut])
    with pytest.raises(IDXFormatError):
        read_idx(path)


@given(array=idx_arrays, extra=st.binary(min_size=1, max_size=9))
def test_trailing_bytes_raise(array, extra):
    with pytest.raises(IDXFormatError, match="extra bytes|header is damaged"):
        parse_idx(idx_bytes(array) + extra)


@given(array=idx_arrays, data=st.data())
def test_any_flipped_header_byte_is_rejected_unless_the_result_is_itself_valid_idx(array, data):
    """Flip one byte of the header. Either the reader raises IDXFormatError, or the damaged bytes
    happen to form a well-formed IDX file - then writing back what was read reproduces them
    exactly (e.g. int32 <-> float32 reinterpretations, or a shape with a zero dimension)."""
    content = bytearray(idx_bytes(array))
    header_size = 4 + 4 * array.ndim
    position = data.draw(st.integers(0, header_size - 1), label="position")
    content[position] = data.draw(
        st.integers(0, 255).filter(lambda v: v != content[position]), label="new value"
    )
    try:
        back = parse_idx(bytes(content))
    except IDXFormatError:
        return
    assert idx_bytes(back) == bytes(content)


@given(array=nonempty_arrays, data=st.data())
def test_flipped_type_code_raises_unless_same_item_size(array, data):
    content = bytearray(idx_bytes(array))
    new = data.draw(st.integers(0, 255).filter(lambda v: v != content[2]), label="type code")
    content[2] = new
    same_size = new in TYPE_CODES and TYPE_CODES[new].itemsize == array.dtype.itemsize
    assume(not same_size)
    with pytest.raises(IDXFormatError):
        parse_idx(bytes(content))


@given(array=nonempty_arrays, data=st.data())
def test_any_damaged_byte_of_a_gzip_file_is_rejected_or_harmless(tmp_path_factory, array, data):
    """gzip's CRC-32 catches a damaged payload; damage to gzip's own header fields (timestamp,
    OS byte) is harmless and gives back the original array."""
    content = bytearray(gzip.compress(idx_bytes(array)))
    position = data.draw(st.integers(0, len(content) - 1), label="position")
    content[position] ^= data.draw(st.integers(1, 255), label="xor")
    path = tmp_path_factory.mktemp("gz") / "damaged.gz"
    path.write_bytes(bytes(content))
    try:
        back = read_idx(path)
    except IDXFormatError:
        return
    assert_same(back, array)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")
