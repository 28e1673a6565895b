"""Download dataset files from a list of mirrors, verified and atomically.

For each file the mirrors are tried in order; on each mirror a network failure (timeout,
refused connection, server error, transfer cut short) is retried a few times with a growing
pause, while a missing file (HTTP 4xx) or a payload with the wrong checksum moves on to the next
mirror at once, and so does a mirror that sends more bytes than the file can have or does not
finish within the deadline. The bytes are received into memory (at most the file's bounded
size), verified, and only then written to a temporary ``<file>.<random>.part`` beside the final
name and renamed into place, so a partial or corrupt download never appears under the final
name. ``.part`` files left behind by a killed process are removed when a download starts.

URL prefixes come from ``mirrors=`` when given, else ``TINYBGN_MIRRORS`` (comma-separated,
tried first) followed by the registry's.

Nothing is downloaded when the file is already present and valid. A file that is present but
fails its checksum is never overwritten silently: :class:`ChecksumError` is raised, and with
``force=True`` the bad file is kept as ``<file>.bad`` before a fresh copy is fetched.

Only ``http``, ``https`` and ``file`` URLs are used; proxies come from the usual ``https_proxy``
environment variables (``urllib`` reads them).
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tinybgn.data.checksum import read_verified, verify_bytes
from tinybgn.data.errors import ChecksumError, ContentSizeError, DownloadError, IDXFormatError
from tinybgn.data.locate import download_dir, find_file
from tinybgn.data.registry import SPLITS, DatasetSpec, FileSpec, get_spec
from tinybgn.files import atomic_write_bytes, remove_stale_parts

USER_AGENT = "tinybgn-data/1 (+Python urllib)"
CHUNK_SIZE = 64 * 1024
MIRRORS_ENV = "TINYBGN_MIRRORS"
DEFAULT_DEADLINE = 600.0  # seconds one attempt at one file may take, start to finish
MAX_UNKNOWN_SIZE = 1 << 30  # download cap for files registered without a size


class _TransferCut(OSError):
    """The connection closed before Content-Length bytes arrived (retried like a network error)."""


class _Refused(Exception):
    """The mirror sends too much or too slowly (not retried: the next mirror is tried)."""


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


def download_cap(file_spec: FileSpec) -> int:
    """The most bytes a mirror may send for ``file_spec``: its content size plus what gzip can
    add (deflate grows incompressible data by at most 5 bytes per 16 KB block, plus a header),
    so a mirror may serve the file compressed or not. Unknown sizes get MAX_UNKNOWN_SIZE."""
    if file_spec.size is None:
        return MAX_UNKNOWN_SIZE
    return file_spec.size + file_spec.size // 100 + 64 * 1024


def _receive(
    url: str, *, timeout: float, deadline: float, cap: int, progress: bool | None, label: str
) -> bytes:
    """The body at ``url``: at most ``cap`` bytes, within ``deadline`` seconds in all.

    ``timeout`` bounds each wait for the server; the deadline bounds the whole transfer, so a
    server trickling one byte at a time cannot hold the download forever. Reads use ``read1``,
    which returns as soon as some bytes arrived, so both are checked at least every ``timeout``
    seconds once the body starts (connecting and the response headers are bounded by
    ``timeout`` per wait only). Raises _Refused (too large, too slow) or _TransferCut.
    """
    end = time.monotonic() + deadline
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > cap:
            raise _Refused(f"announces {total} bytes, more than the {cap} this file can have")
        read = getattr(response, "read1", response.read)
        body = bytearray()
        bar = Progress(label, total, enabled=progress)
        try:
            while chunk := read(CHUNK_SIZE):
                body += chunk
                bar.update(len(chunk))
                if len(body) > cap:
                    raise _Refused(f"sent more than the {cap} bytes this file can have; stopped")
                if time.monotonic() > end:
                    raise _Refused(
                        f"too slow: {len(body)} bytes after the {deadline:g} s deadline; stopped"
                    )
        finally:
            bar.close()
    if total is not None and len(body) != total:
        raise _TransferCut(f"transfer interrupted after {len(body)} of {total} bytes")
    return bytes(body)


def fetch_file(
    urls: Sequence[str],
    dest: Path,
    file_spec: FileSpec,
    *,
    timeout: float = 30.0,
    deadline: float = DEFAULT_DEADLINE,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> str:
    """Download ``dest`` from the first of ``urls`` that delivers ``file_spec``'s content.

    Each URL gets up to ``retries`` attempts against network errors, pausing
    ``backoff * 2**attempt`` seconds between them; each attempt may take ``deadline`` seconds
    and receive :func:`download_cap` bytes. Returns the URL used; raises DownloadError listing
    every failure when none works. ``dest`` is only ever created by an atomic rename of
    verified bytes (:func:`tinybgn.files.atomic_write_bytes`).
    """
    md5 = file_spec.md5
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
            try:
                body = _receive(
                    url,
                    timeout=timeout,
                    deadline=deadline,
                    cap=download_cap(file_spec),
                    progress=progress,
                    label=dest.name,
                )
                verify_bytes(body, file_spec, url)
                atomic_write_bytes(dest, body)
                return url
            except urllib.error.HTTPError as err:
                note(f"{url}: HTTP {err.code} {err.reason}")
                if 400 <= err.code < 500:
                    break  # the mirror does not have it; retrying will not help
            except _Refused as err:
                note(f"{url}: {err}")
                break  # too large or too slow: the next mirror may do better
            except ChecksumError:
                note(f"{url}: corrupted payload (content MD5 is not {md5})")
                break  # the mirror serves bad data; try the next one
            except ContentSizeError:
                note(f"{url}: corrupted payload (decompresses to more than {file_spec.size} bytes)")
                break
            except IDXFormatError:
                note(f"{url}: corrupted payload (not a valid gzip stream)")
                break
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                reason = getattr(err, "reason", None) or err
                note(f"{url}: {type(err).__name__}: {reason} (attempt {attempt + 1})")
                if isinstance(reason, socket.gaierror):
                    break  # the host name does not resolve (offline?): it will not in 1 s either
    raise DownloadError(
        f"could not download {dest.name} into {dest.parent}; every mirror failed:\n  "
        + "\n  ".join(failures)
        + f"\nCheck your connection, pass other mirrors= (or set {MIRRORS_ENV}), or put "
        f"{dest.name} (content MD5 {md5}) into {dest.parent} yourself."
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


def env_mirrors() -> tuple[str, ...]:
    """The URL prefixes in ``TINYBGN_MIRRORS`` (comma-separated; blanks ignored)."""
    return tuple(m.strip() for m in os.environ.get(MIRRORS_ENV, "").split(",") if m.strip())


def mirror_list(spec: DatasetSpec, mirrors: Sequence[str] | None = None) -> tuple[str, ...]:
    """The URL prefixes tried, in order: ``mirrors`` when given (exactly those), else
    ``TINYBGN_MIRRORS`` (an institutional or offline mirror) followed by the registry's."""
    if mirrors is not None:
        return tuple(mirrors)
    return env_mirrors() + spec.mirrors


def fetch_dataset(
    name: str | DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    *,
    splits: Iterable[str] | None = None,
    mirrors: Sequence[str] | None = None,
    force: bool = False,
    timeout: float = 30.0,
    deadline: float = DEFAULT_DEADLINE,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, dict[str, str | None]]:
    """:func:`download_dataset`, also returning ``{file name: URL it came from}`` (None for a
    file that was already present and valid). ``splits`` defaults to all of the dataset's."""
    spec = get_spec(name)
    splits = list(spec.files) if splits is None else list(splits)
    unknown = set(splits) - set(spec.files)
    if unknown:
        raise ValueError(f"{spec.name} has splits {sorted(spec.files)}, not {sorted(unknown)}")
    if not (timeout > 0 and deadline > 0):
        raise ValueError(f"timeout and deadline must be > 0 seconds, got {timeout}, {deadline}")
    options = dict(
        timeout=timeout, deadline=deadline, retries=retries, backoff=backoff, progress=progress
    )
    urls = mirror_list(spec, mirrors)
    target = download_dir(spec, data_dir)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        return target, _fetch_into(target, spec, splits, urls, force, log, **options)
    except DownloadError:
        if created and not any(target.iterdir()):
            target.rmdir()  # leave no empty folder behind a failed first download
        raise


def _fetch_into(target, spec, splits, urls, force, log, **options) -> dict[str, str | None]:
    """The body of :func:`fetch_dataset`: fetch each missing file into ``target``."""
    for stale in remove_stale_parts(target):
        if log:
            log(f"removed {stale.name}, left by an interrupted download")
    files: list[FileSpec] = [f for s in SPLITS if s in splits for f in spec.files[s]]
    sources: dict[str, str | None] = {}
    for f in files:
        existing = find_file(target, f.filename)
        if existing is not None:
            try:
                read_verified(existing, f)
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
                sources[existing.name] = None
                continue
        if not urls:
            raise DownloadError(
                f"{spec.name} has no mirrors to download {f.filename} from; pass mirrors= or "
                f"set {MIRRORS_ENV}."
            )
        sources[f.filename] = fetch_file(
            _mirror_urls(urls, f.filename), target / f.filename, f, log=log, **options
        )
        if log:
            log(f"{f.filename}: downloaded from {sources[f.filename]} and verified")
    return sources


def download_dataset(name: str | DatasetSpec, data_dir=None, **options) -> Path:
    """Make sure the files of ``splits`` of dataset ``name`` are present and valid; return the dir.

    The directory is :func:`tinybgn.data.locate.download_dir` (``<first writable root>/<name>``,
    ``data_dir`` first); ``*.part`` files an interrupted download left there are removed first.
    URL prefixes: ``mirrors`` when given (tests point it at a local server), else
    ``TINYBGN_MIRRORS`` then the registry's (:func:`mirror_list`). Files already present with
    the right checksum are not downloaded again. A present file with the wrong checksum raises
    ChecksumError unless ``force=True``, which moves it to ``<file>.bad`` and downloads a fresh
    copy. ``timeout`` bounds each wait for a server, ``deadline`` each whole transfer (seconds);
    ``retries`` and ``backoff`` see :func:`fetch_file`. ``log`` receives one line per event
    (the CLI passes ``print``); ``progress`` shows a progress line (default: on a terminal).
    Options: ``splits``, ``mirrors``, ``force``, ``timeout``, ``deadline``, ``retries``,
    ``backoff``, ``progress``, ``log`` (see :func:`fetch_dataset`).
    """
    return fetch_dataset(name, data_dir, **options)[0]
