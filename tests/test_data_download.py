"""Downloads end to end, against a local HTTP server on 127.0.0.1 serving copies of real files.

The server (tests/mirror_server.py) plays several mirrors, one per URL prefix: down (503),
missing (404), corrupt (wrong content), garbled (bad gzip), cut (interrupted), slow (waits
longer than the client's timeout), trickle (one byte at a time), huge (announces 400 MB),
endless (no length, never ends), bomb (a small gzip expanding to 50 MB) and good.

After any mix of these, the cache must hold exactly the verified files: nothing under the final
name that did not pass the checksum, and no ``.part`` leftovers. No test here reaches any host
but 127.0.0.1 (conftest.py's guard fails the test if one tries).
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
import tracemalloc
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mirror_server import MirrorServer, gzip_bomb

from tinybgn.data import (
    MNIST_SAMPLE,
    ChecksumError,
    ContentSizeError,
    DataNotFoundError,
    DownloadError,
    EmbeddedSampleWarning,
    IDXFormatError,
    download_dataset,
    load_dataset,
    read_split,
    register_dataset,
)
from tinybgn.data import locate as locate_module
from tinybgn.data.checksum import read_verified
from tinybgn.data.cli import add_subcommand
from tinybgn.data.download import MIRRORS_ENV, mirror_list
from tinybgn.data.locate import ENV_VAR, SearchRoot
from tinybgn.data.registry import get_spec, unregister_dataset

MNIST_TEST = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
NAME = "mirror-test"  # the embedded sample's two files as an ordinary, downloadable dataset
SAMPLE_FILES = {name: (MNIST_SAMPLE.location / name).read_bytes() for name in MNIST_TEST}
LABELS_SIZE = MNIST_SAMPLE.files["test"][1].size  # 8 header bytes + 3000 labels
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No proxies, no TINYBGN_DATA, and project/system folders replaced by empty tmp folders."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(
        locate_module,
        "default_root",
        lambda: SearchRoot(tmp_path / "default", "project data/ folder"),
    )
    monkeypatch.setattr(locate_module, "SYSTEM_ROOTS", (tmp_path / "system",))
    spec = replace(MNIST_SAMPLE, name=NAME, location=None, description="mirror-test digits")
    register_dataset(spec, replace=True)
    yield
    unregister_dataset(NAME)


@pytest.fixture
def mnist_server():
    """Real MNIST digits, served: the embedded sample's files, registered as the downloadable
    dataset NAME (so these tests run on a fresh clone too)."""
    with MirrorServer(SAMPLE_FILES) as server:
        yield server


@pytest.fixture
def real_mnist_server(mnist_dir):
    """The real MNIST test files, served."""
    with MirrorServer({name: (mnist_dir / name).read_bytes() for name in MNIST_TEST}) as server:
        yield server


def cache_listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def fetch(server: MirrorServer, cache: Path, modes, **kwargs) -> Path:
    kwargs = {"splits": ["test"], "retries": 2, "backoff": 0, "timeout": 5, **kwargs}
    return download_dataset(NAME, cache, mirrors=[server.mirror(m) for m in modes], **kwargs)


def test_failing_corrupt_and_interrupted_mirrors_then_a_good_one(mnist_server, tmp_path):
    messages = []
    folder = fetch(
        mnist_server,
        tmp_path / "cache",
        ["down", "missing", "corrupt", "garbled", "cut", "slow", "good"],
        timeout=0.3,
        log=messages.append,
    )
    assert folder == tmp_path / "cache" / NAME
    assert cache_listing(folder) == sorted(MNIST_TEST)  # exactly the verified files
    for name in MNIST_TEST:
        assert (folder / name).read_bytes() == SAMPLE_FILES[name]
    for name in MNIST_TEST:
        tried = [mode for mode, file in mnist_server.requests if file == name]
        # 503 and the interrupted transfer and timeout are retried; 404 and bad payloads are not
        assert tried == [
            "down",
            "down",
            "missing",
            "corrupt",
            "garbled",
            "cut",
            "cut",
            "slow",
            "slow",
            "good",
        ]
    text = "\n".join(messages)
    for reason in (
        "HTTP 503",
        "HTTP 404",
        "content MD5 is not",
        "not a valid gzip",
        "interrupted after",
        "timed out",
        "downloaded from",
    ):
        assert reason in text, f"{reason!r} not in log:\n{text}"


def test_nothing_is_downloaded_when_the_files_are_present_and_valid(mnist_server, tmp_path):
    fetch(mnist_server, tmp_path, ["good"])
    before = len(mnist_server.requests)
    messages = []
    fetch(mnist_server, tmp_path, ["good"], log=messages.append)
    assert len(mnist_server.requests) == before
    assert all("already present and verified" in m for m in messages)


def test_when_every_mirror_fails_nothing_reaches_the_cache(mnist_server, tmp_path):
    with pytest.raises(DownloadError) as info:
        fetch(mnist_server, tmp_path, ["down", "corrupt", "cut"])
    message = str(info.value)
    assert "every mirror failed" in message and "HTTP 503" in message
    assert "corrupted payload" in message and "interrupted" in message
    assert isinstance(info.value, OSError)
    assert not (tmp_path / NAME).exists()  # not even an empty folder


def test_unreachable_mirror_is_a_download_error(tmp_path):
    with MirrorServer({}) as server:
        dead = server.mirror("good")
    with pytest.raises(DownloadError, match="URLError"):
        download_dataset(NAME, tmp_path, splits=["test"], mirrors=[dead], retries=1, timeout=2)
    assert not (tmp_path / NAME).exists()  # not even an empty folder


def test_a_bad_file_in_the_cache_is_never_silently_overwritten(mnist_server, tmp_path):
    folder = fetch(mnist_server, tmp_path, ["good"])
    bad = folder / MNIST_TEST[1]
    payload = gzip.compress(b"not the labels", mtime=0)  # mtime=0: the same bytes every call
    bad.write_bytes(payload)
    requests = len(mnist_server.requests)
    with pytest.raises(ChecksumError, match="force"):
        fetch(mnist_server, tmp_path, ["good"])
    assert bad.read_bytes() == payload
    assert len(mnist_server.requests) == requests
    fetch(mnist_server, tmp_path, ["good"], force=True)
    assert cache_listing(folder) == sorted([*MNIST_TEST, MNIST_TEST[1] + ".bad"])
    assert (folder / (MNIST_TEST[1] + ".bad")).read_bytes() == payload


def test_registry_mirrors_are_public_urls_in_order():
    for name in ("mnist", "fashion-mnist"):
        mirrors = get_spec(name).mirrors
        assert len(mirrors) >= 2 and all(m.startswith(("http://", "https://")) for m in mirrors)
    assert "yann.lecun.com" in get_spec("mnist").mirrors[-1]  # the 403-prone one last


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tinybgn")
    add_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_download_fetches_and_reports(mnist_server, tmp_path, capsys):
    argv = [
        "data",
        "download",
        NAME,
        "--data-dir",
        str(tmp_path),
        "--split",
        "test",
        "--mirror",
        mnist_server.mirror("down"),
        "--mirror",
        mnist_server.mirror("good"),
        "--retries",
        "1",
    ]
    assert run_cli(argv) == 0
    out = capsys.readouterr()
    assert "downloaded from" in out.out and f"ready in {tmp_path / NAME}" in out.out
    assert out.err == ""  # no progress line when stderr is not a terminal
    assert run_cli([*argv, "--quiet"]) == 0
    assert capsys.readouterr().out == ""


@pytest.fixture
def fashion_server(fashion_dir):
    with MirrorServer.of_folder(fashion_dir) as server:
        yield server


@pytest.mark.slow
def test_load_dataset_download_true_fetches_full_fashion_mnist_once(fashion_server, tmp_path):
    """The whole path a user takes: load_dataset(download=True) on an empty cache, through
    failing mirrors, then again without any request."""
    mirrors = [fashion_server.mirror(m) for m in ("down", "corrupt", "cut", "good")]
    ds = load_dataset(
        "fashion-mnist", tmp_path, download=True, mirrors=mirrors, download_options={"backoff": 0}
    )
    assert ds.info["split"] == "standard" and ds.info["n_train"] == 60_000
    assert cache_listing(tmp_path / "fashion-mnist") == sorted(
        f.filename for f in get_spec("fashion-mnist").all_files()
    )
    before = len(fashion_server.requests)
    load_dataset("fashion-mnist", tmp_path, download=True, mirrors=mirrors)
    assert len(fashion_server.requests) == before


def test_load_dataset_download_true_reports_a_split_no_mirror_has(real_mnist_server, tmp_path):
    with pytest.raises(DownloadError, match="train-images-idx3-ubyte.gz into"):
        load_dataset(
            "mnist",
            tmp_path,
            download=True,
            mirrors=[real_mnist_server.mirror("good")],
            download_options={"backoff": 0},
        )
    assert ("good", "train-images-idx3-ubyte.gz") in real_mnist_server.requests
    assert not (tmp_path / "mnist").exists()  # train is fetched first: nothing was written


class FakeTerminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_is_one_updating_line_on_a_terminal_only():
    from tinybgn.data.download import Progress

    terminal = FakeTerminal()
    bar = Progress("t10k.gz", total=2_000_000, stream=terminal)
    bar.update(1_000_000)
    bar.update(1_000_000)
    bar.close()
    assert terminal.text.startswith("\r  t10k.gz") and terminal.text.endswith("\n")
    assert terminal.text.count("\n") == 1 and "2.0/2.0 MB 100%" in terminal.text
    assert "MB/s" in terminal.text
    quiet = FakeTerminal()
    muted = Progress("x", total=10, enabled=False, stream=quiet)
    muted.update(10)
    muted.close()
    assert quiet.text == ""


# --- misbehaving mirrors: too large, too slow, bombs (regressions) ------------------------------


def test_a_gzip_bomb_on_disk_is_rejected_without_decompressing_it_whole(tmp_path):
    """Regression: gzip files were decompressed whole before any check (a 50 KB archive of
    50 MB of zeros took 131 MB to reject; a 1 MB one, 2.2 GB). Decompression now stops past
    the registered size (3008 bytes for the labels here)."""
    folder = tmp_path / NAME
    folder.mkdir()
    (folder / MNIST_TEST[0]).write_bytes(SAMPLE_FILES[MNIST_TEST[0]])
    bomb = folder / MNIST_TEST[1]
    bomb.write_bytes(gzip_bomb(50_000_000))
    tracemalloc.start()
    try:
        with pytest.raises(ContentSizeError, match=f"larger than the {LABELS_SIZE} bytes"):
            read_verified(bomb, get_spec(NAME).files["test"][1])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"{peak / 1e6:.0f} MB used to reject a bomb"
    with pytest.raises(IDXFormatError, match=f"larger than the {LABELS_SIZE} bytes"):
        read_split(NAME, "test", tmp_path)  # the loader stops there too


def test_a_bomb_a_flood_and_an_endless_reply_are_refused_then_a_good_mirror_used(
    mnist_server, tmp_path
):
    """Regression: downloads had no size cap (a 400 MB reply was accepted for a 1.6 MB file)."""
    messages = []
    start = time.monotonic()
    folder = fetch(mnist_server, tmp_path, ["bomb", "huge", "endless", "good"], log=messages.append)
    assert time.monotonic() - start < 30
    assert cache_listing(folder) == sorted(MNIST_TEST)
    text = "\n".join(messages)
    assert f"decompresses to more than {LABELS_SIZE} bytes" in text
    assert "announces 400000000 bytes, more than the" in text
    assert "sent more than the" in text and "stopped" in text
    tried = [mode for mode, name in mnist_server.requests if name == MNIST_TEST[1]]
    assert tried == ["bomb", "huge", "endless", "good"]  # none of them retried


def test_a_server_trickling_bytes_is_abandoned_at_the_deadline(mnist_server, tmp_path):
    """Regression: --timeout bounded each read only, so a server sending a byte every 0.05 s
    (labels: 1.5 KB, over a minute) held the download; the deadline bounds the transfer."""
    messages = []
    start = time.monotonic()
    fetch(mnist_server, tmp_path, ["trickle", "good"], deadline=0.5, log=messages.append)
    assert time.monotonic() - start < 10
    assert "too slow" in "\n".join(messages) and "0.5 s deadline" in "\n".join(messages)
    assert [m for m, n in mnist_server.requests if n == MNIST_TEST[1]] == ["trickle", "good"]


def test_downloads_are_written_with_the_umask_and_stale_parts_are_cleaned(mnist_server, tmp_path):
    """Regressions: files were created 0600 whatever the umask; .part files left by a killed
    download stayed forever (now removed when a download starts, if untouched for an hour)."""
    folder = tmp_path / NAME
    folder.mkdir()
    stale, fresh = folder / "t10k-images-idx3-ubyte.gz.x1.part", folder / "other.x2.part"
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"a download in progress")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    messages = []
    old = os.umask(0o022)
    try:
        fetch(mnist_server, tmp_path, ["good"], log=messages.append)
    finally:
        os.umask(old)
    assert not stale.exists() and fresh.exists()
    assert f"removed {stale.name}" in "\n".join(messages)
    for name in MNIST_TEST:
        assert (folder / name).stat().st_mode & 0o777 == 0o644


def test_tinybgn_mirrors_are_tried_before_the_registry(mnist_server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRRORS_ENV, f" {mnist_server.mirror('down')} ,{mnist_server.mirror()}")
    assert mirror_list(get_spec("mnist"))[:2] == (
        mnist_server.mirror("down"),
        mnist_server.mirror("good"),
    )
    assert mirror_list(get_spec("mnist"))[2:] == get_spec("mnist").mirrors
    assert mirror_list(get_spec("mnist"), ["x"]) == ("x",)  # mirrors= means exactly those
    ds = load_dataset(NAME, tmp_path, split="carve", download_options={"backoff": 0})
    assert ds.info["found_via"] == "download"
    assert ds.info["source"] == (
        f"mirror-test digits t10k files downloaded from {mnist_server.mirror()} into "
        f"{tmp_path / NAME}"
    )
    assert ("down", MNIST_TEST[0]) in mnist_server.requests


# --- the embedded sample as a fallback ----------------------------------------------------------


def test_fallback_to_the_embedded_sample_when_every_mirror_fails(mnist_server, monkeypatch):
    """No MNIST anywhere and every mirror failing: the sample, with exactly one warning that
    says it is used and why; the README example's sizes fit."""
    monkeypatch.setenv(MIRRORS_ENV, mnist_server.mirror("down"))  # registry: offline in tests
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(
            "mnist", fallback="sample", n_train=2000, n_test=500, download_options={"backoff": 0}
        )
    assert [w.category for w in caught] == [EmbeddedSampleWarning]
    message = str(caught[0].message)
    assert "using the embedded sample of 3000 real MNIST test digits" in message
    assert "downloading it failed" in message and "HTTP 503" in message
    assert ds.info["source"] == "embedded sample of 3000 real MNIST test digits"
    assert ds.info["found_via"] == "embedded" and ds.info["name"] == "mnist"
    assert ds.x_train.shape == (2000, 784) and ds.x_test.shape == (500, 784)
    assert np.bincount(ds.y_test).tolist() == [50] * 10


def test_fallback_without_download_and_its_limits(tmp_path):
    with pytest.warns(EmbeddedSampleWarning, match=r"downloads are off \(download=False\)"):
        ds = load_dataset("mnist", download=False, fallback="sample", split="carve")
    assert ds.info["source"] == "embedded sample of 3000 real MNIST test digits"
    assert ds.info["files"] == {f.filename: f.md5 for f in get_spec("mnist-sample").all_files()}
    with pytest.raises(DataNotFoundError):  # no fallback: the error, as before
        load_dataset("mnist", download=False)
    with pytest.raises(ValueError, match="mnist only"):
        load_dataset("fashion-mnist", download=False, fallback="sample")
    with pytest.raises(ValueError, match="fallback must be one of"):
        load_dataset("mnist", fallback="tiny")


# --- the whole path a user of TINYBGN_MIRRORS takes -------------------------------------------


def test_fashion_mnist_downloads_from_a_local_folder_server(fashion_dir, serve_folder, tmp_path):
    """load_dataset on an empty folder with TINYBGN_MIRRORS at a server of the four files:
    downloaded, verified, loaded, and named as downloaded in info["source"]."""
    url = serve_folder(fashion_dir)
    empty = tmp_path / "empty"
    empty.mkdir()
    os.environ[MIRRORS_ENV] = url  # removed again by conftest's autouse fixture
    ds = load_dataset("fashion-mnist", data_dir=empty)
    assert ds.info["split"] == "standard" and ds.info["n_train"] == 60_000
    assert ds.info["source"] == (
        f"Fashion-MNIST train+t10k files downloaded from {url} into {empty / 'fashion-mnist'}"
    )
    for f in get_spec("fashion-mnist").all_files():
        assert (empty / "fashion-mnist" / f.filename).read_bytes() == (
            fashion_dir / f.filename
        ).read_bytes()
