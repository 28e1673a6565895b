"""Download dataset files from a list of mirrors, verified and atomically.

For each file the mirrors are tried in order; on each mirror a network failure (timeout,
refused connection, server error, transfer cut short) is retried a few times with a growing
pause, while a missing file (HTTP 4xx) or a payload with the wrong checksum moves on to the next
mirror at once. The bytes are streamed into a temporary ``<file>.<random>.part`` beside the
final name and renamed into place only after the content checksum matches, so a partial or
corrupt download never appears under the final name; ``.part`` files are removed on failure.

Nothing is downloaded when the file is already present and valid. A file that is present but
fails its checksum is never overwritten silently: :class:`ChecksumError` is raised, and with
``force=True`` the bad file is kept as ``<file>.bad`` before a fresh copy is fetched.

Only ``http``, ``https`` and ``file`` URLs are used; proxies come from the usual ``https_proxy``
environment variables (``urllib`` reads them).
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tinybgn.data.checksum import read_verified
from tinybgn.data.errors import ChecksumError, DownloadError, IDXFormatError
from tinybgn.data.locate import download_dir, find_file
from tinybgn.data.registry import SPLITS, DatasetSpec, FileSpec, get_spec

USER_AGENT = "tinybgn-data/1 (+Python urllib)"
CHUNK_SIZE = 64 * 1024


class _TransferCut(OSError):
    """The connection closed before Content-Length bytes arrived (retried like a network error)."""


class Progress:
    """One updating line on stderr: file name, bytes received, percent and rate.

    Enabled only when ``enabled`` is true; by default that means stderr is a terminal, so logs
    and CI output stay clean.
    """

    def __init__(self, label: str, total: int | None, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label, self.total, self.done = label, total, 0
        self.start = self.last = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self.last >= 0.1 or self.done == self.total):
            self.last = now
            self._draw(now)

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.start, 1e-9)
        size = f"{self.done / 1e6:.1f}"
        if self.total:
            size += f"/{self.total / 1e6:.1f} MB {100 * self.done / self.total:3.0f}%"
        else:
            size += " MB"
        self.stream.write(f"\r  {self.label}  {size}  {rate / 1e6:.1f} MB/s ")
        self.stream.flush()


def _stream_to(url: str, out, *, timeout: float, progress: bool | None, label: str) -> None:
    """Copy the body at ``url`` into the open binary file ``out``, checking its length."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = Progress(label, total, enabled=progress)
        try:
            while chunk := response.read(CHUNK_SIZE):
                out.write(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and bar.done != total:
        raise _TransferCut(f"transfer interrupted after {bar.done} of {total} bytes")


def fetch_file(
    urls: Sequence[str],
    dest: Path,
    md5: str,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> str:
    """Download ``dest`` from the first of ``urls`` that delivers content with MD5 ``md5``.

    Each URL gets up to ``retries`` attempts against network errors, pausing
    ``backoff * 2**attempt`` seconds between them. Returns the URL used; raises DownloadError
    listing every failure when none works. ``dest`` is only ever created by a rename of a
    verified ``.part`` file.
    """
    failures = []

    def note(message: str) -> None:
        failures.append(message)
        if log:
            log(f"  {message}")

    for url in urls:
        if not url.lower().startswith(("http://", "https://", "file:")):
            note(f"{url}: unsupported URL scheme (use http, https or file)")
            continue
        for attempt in range(max(1, retries)):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            fd, part = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    _stream_to(url, out, timeout=timeout, progress=progress, label=dest.name)
                read_verified(part, md5)
                os.replace(part, dest)
                return url
            except urllib.error.HTTPError as err:
                note(f"{url}: HTTP {err.code} {err.reason}")
                if 400 <= err.code < 500:
                    break  # the mirror does not have it; retrying will not help
            except ChecksumError:
                note(f"{url}: corrupted payload (content MD5 is not {md5})")
                break  # the mirror serves bad data; try the next one
            except IDXFormatError:
                note(f"{url}: corrupted payload (not a valid gzip stream)")
                break
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                reason = getattr(err, "reason", None) or err
                note(f"{url}: {type(err).__name__}: {reason} (attempt {attempt + 1})")
            finally:
                Path(part).unlink(missing_ok=True)
    raise DownloadError(
        f"could not download {dest.name} into {dest.parent}; every mirror failed:\n  "
        + "\n  ".join(failures)
        + f"\nCheck your connection, pass other mirrors=, or put {dest.name} (content MD5 "
        f"{md5}) into {dest.parent} yourself."
    )


def _set_aside(path: Path) -> Path:
    """Rename a bad file to ``<file>.bad`` (``.bad1``, ``.bad2``... if taken); returns new path."""
    target, n = path.with_name(path.name + ".bad"), 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bad{n}")
    path.rename(target)
    return target


def _mirror_urls(mirrors: Iterable[str], filename: str) -> list[str]:
    return [m if m.endswith(filename) else m.rstrip("/") + "/" + filename for m in mirrors]


def download_dataset(
    name: str | DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    *,
    splits: Iterable[str] = SPLITS,
    mirrors: Sequence[str] | None = None,
    force: bool = False,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Make sure the files of ``splits`` of dataset ``name`` are present and valid; return the dir.

    The directory is :func:`tinybgn.data.locate.download_dir` (``<first writable root>/<name>``,
    ``data_dir`` first). ``mirrors`` replaces the registry's URL prefixes (tests point it at a
    local server). Files already present with the right checksum are not downloaded again.
    A present file with the wrong checksum raises ChecksumError unless ``force=True``, which
    moves it to ``<file>.bad`` and downloads a fresh copy. ``log`` receives one line per event
    (the CLI passes ``print``); ``progress`` shows a progress line (default: when on a terminal).
    """
    spec = get_spec(name)
    unknown = set(splits) - set(spec.files)
    if unknown:
        raise ValueError(f"{spec.name} has splits {sorted(spec.files)}, not {sorted(unknown)}")
    mirrors = tuple(mirrors) if mirrors is not None else spec.mirrors
    target = download_dir(spec, data_dir)
    target.mkdir(parents=True, exist_ok=True)
    files: list[FileSpec] = [f for s in SPLITS if s in splits for f in spec.files[s]]
    for f in files:
        existing = find_file(target, f.filename)
        if existing is not None:
            try:
                read_verified(existing, f.md5)
            except (ChecksumError, IDXFormatError) as err:
                if not force:
                    raise ChecksumError(
                        f"{err} (pass force=True / --force to keep it as {existing.name}.bad "
                        f"and download a fresh copy)"
                    ) from err
                kept = _set_aside(existing)
                if log:
                    log(f"{existing.name}: bad checksum, kept as {kept.name}")
            else:
                if log:
                    log(f"{existing.name}: already present and verified")
                continue
        url = fetch_file(
            _mirror_urls(mirrors, f.filename),
            target / f.filename,
            f.md5,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            progress=progress,
            log=log,
        )
        if log:
            log(f"{f.filename}: downloaded from {url} and verified")
    return target
