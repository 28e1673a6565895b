"""The run store: one JSON record per line (``runs.jsonl``), appended as each run finishes.

Reading and writing are separate on purpose:

* :func:`read_records` only reads (also ``.jsonl.gz``): it never changes the file. Lines that are
  not a complete record - a torn write, a non-UTF-8 byte, a record missing required fields, an
  id that is not its spec's - are skipped and returned as *bad lines* with the reason, so a
  reader (``load_comparable``, a report) works on a damaged file and says what it skipped.
* :class:`JsonlStore` is the writer. Opening it takes an exclusive lock on ``<store>.lock``
  (a second writer - e.g. a second ``tinybgn reproduce`` into the same folder - fails at once
  with a clear error naming the process that holds it, instead of computing every run twice).
  Then bad lines are *quarantined*: appended, byte for byte, to ``<store>.quarantine`` and the
  store rewritten without them (atomically, :mod:`tinybgn.files`). Nothing is ever deleted: a
  complete last record that lacks only its newline is a good record and is kept; the next
  append starts a new line first.

The lock is an OS file lock (``fcntl.flock``), so it disappears with the process that held it,
also after ``kill -9``: a stale lock file never blocks a rerun.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tinybgn.errors import TinyBGNError
from tinybgn.experiments.spec import JobSpec, SpecError
from tinybgn.files import atomic_write

try:  # POSIX; elsewhere the store works without a lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Fields every record must have to be used (others are optional, e.g. "probe", "monitor").
REQUIRED_FIELDS = ("id", "spec", "accuracy", "diverged", "history")


class StoreError(TinyBGNError, RuntimeError):
    """The run store cannot be opened for writing (locked by another process, not writable)."""


@dataclass
class BadLine:
    """A line of the store that is not a usable record: its number, raw bytes and why."""

    number: int
    raw: bytes
    reason: str


def check_record(record: object) -> str | None:
    """Why ``record`` is not a usable run record, or None if it is."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [k for k in REQUIRED_FIELDS if k not in record]
    if missing:
        return f"missing fields {missing}"
    if not isinstance(record["spec"], dict) or not isinstance(record["history"], dict):
        return "spec and history must be objects"
    try:
        spec_id = JobSpec.from_dict(record["spec"]).id
    except SpecError as err:
        return f"bad spec: {err}"
    if spec_id != record["id"]:
        return f"id {record['id']!r} is not its spec's id {spec_id!r}"
    return None


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw bytes with their b"\\n")``; only b"\\n" ends a line."""
    start, number = 0, 1
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        yield number, data[start:end]
        start, number = end, number + 1


def parse(data: bytes) -> tuple[dict[str, dict], list[BadLine]]:
    """Records by id (a later record with the same id wins) and the bad lines of ``data``."""
    records: dict[str, dict] = {}
    bad: list[BadLine] = []
    for number, raw in _lines(data):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            bad.append(BadLine(number, raw, f"not UTF-8 ({err.reason} at byte {err.start})"))
            continue
        except json.JSONDecodeError as err:
            bad.append(BadLine(number, raw, f"not JSON ({err.msg}); a torn write?"))
            continue
        reason = check_record(record)
        if reason is not None:
            bad.append(BadLine(number, raw, reason))
            continue
        records[record["id"]] = record
    return records, bad


def read_bytes(path: str | os.PathLike) -> bytes:
    """The store's bytes (gunzipped for ``.gz``), b"" if it does not exist."""
    path = Path(path)
    if not path.exists():
        return b""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def read_records(path: str | os.PathLike) -> tuple[dict[str, dict], list[BadLine]]:
    """Read a store without changing it: ``(records by id, bad lines)``."""
    return parse(read_bytes(path))


class JsonlStore:
    """The writer of a JSONL run store (see the module docstring): lock, quarantine, append.

    Use it as a context manager (or call :meth:`close`) to release the lock; it is also
    released when the object is garbage-collected or the process ends.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.suffix == ".gz":
            raise StoreError(f"{self.path}: a .gz store is read-only; gunzip it to add runs")
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self.path} exists and is not a file")
        self._lock_file = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
        except OSError as err:
            raise StoreError(f"cannot write the run store {self.path}: {err.strerror}") from None
        self.records, self.bad_lines = read_records(self.path)
        if self.bad_lines:
            self._quarantine()

    # -- the lock ----------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _lock(self) -> None:
        f = open(self.lock_path, "a+")  # noqa: SIM115 - held open for the store's lifetime
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                raise StoreError(
                    f"{self.path} is being written by {holder}; wait until it finishes "
                    "(then rerun: its runs will be reused) or use another output folder"
                ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}\n")
        f.flush()
        self._lock_file = f

    def close(self) -> None:
        """Release the lock (the lock file stays; it is harmless without a holder)."""
        if getattr(self, "_lock_file", None) is not None:
            self._lock_file.close()  # closing the descriptor releases flock
            self._lock_file = None

    def __enter__(self) -> JsonlStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    # -- repair ------------------------------------------------------------------------------
    @property
    def quarantine_path(self) -> Path:
        return self.path.with_name(self.path.name + ".quarantine")

    def _quarantine(self) -> None:
        """Move bad lines to the side file (first, fsynced), then rewrite the store without
        them atomically. A crash in between leaves them in both files, never in neither."""
        with open(self.quarantine_path, "ab") as side:
            for line in self.bad_lines:
                raw = line.raw if line.raw.endswith(b"\n") else line.raw + b"\n"
                side.write(raw)
            side.flush()
            os.fsync(side.fileno())
        bad_numbers = {line.number for line in self.bad_lines}
        with atomic_write(self.path) as f:
            for number, raw in _lines(self.path.read_bytes()):
                if number not in bad_numbers and raw.strip():
                    f.write(raw if raw.endswith(b"\n") else raw + b"\n")

    # -- records -----------------------------------------------------------------------------
    def __contains__(self, job_id: str) -> bool:
        return job_id in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, job_id: str) -> dict | None:
        return self.records.get(job_id)

    def append(self, record: dict) -> None:
        """Append one record as a line, flushed and fsynced before returning."""
        reason = check_record(record)
        if reason is not None:
            raise StoreError(f"refusing to store a bad record: {reason}")
        line = (json.dumps(record, sort_keys=True, allow_nan=True) + "\n").encode("utf-8")
        with open(self.path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a complete last record without its newline
                    line = b"\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record["id"]] = record


__all__ = ["REQUIRED_FIELDS", "BadLine", "JsonlStore", "StoreError", "check_record", "read_records"]
