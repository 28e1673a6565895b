"""Shared test configuration.

* hypothesis profiles: ``dev`` (default) and ``ci`` (chosen when the CI variable is set) differ only
  in how many examples they try; neither has a deadline, since timings on shared machines are noisy.
* A guard that fails any test that tries to open a network connection to a host other than this
  machine (tests use local servers on 127.0.0.1 only): connecting to another address raises
  RuntimeError, and resolving another host name fails as it does offline (``socket.gaierror``),
  so code that would download behaves as on a machine without network. ``TINYBGN_MIRRORS`` is
  removed from the environment of every test.
* Real digits, wherever they are (so a fresh clone runs the tests instead of skipping them):

  ========================  ====================================================================
  fixture                   gives
  ========================  ====================================================================
  ``mnist_dir``             folder with MNIST's 10k test files (t10k-*): ``TINYBGN_DATA`` when it
                            holds them, else ``../shared/data/mnist``; skips otherwise.
  ``fashion_dir``           folder with the full Fashion-MNIST, found the same way; skips.
  ``mnist_digits``          real MNIST digits always: a :class:`Digits` for ``mnist_dir`` when
                            it exists, else for the embedded sample of 3000 real test digits
                            shipped in tinybgn/data/sample/. ``.load(**kw)`` loads them (carved),
                            and ``TINYBGN_DATA`` is set (or unset) so that CLI commands and
                            ``load_dataset("mnist", fallback="sample")`` find the same digits.
  ``shared_data``           the ``../shared/data`` folder itself (older tests); skips.
  ``serve_folder``          ``serve_folder(path) -> "http://127.0.0.1:PORT/"``: serves the files
                            of ``path`` over HTTP for the test (e.g. as ``TINYBGN_MIRRORS``).
  ========================  ====================================================================

  Skip messages name the environment variable to set, never a path outside the repository.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from mirror_server import MirrorServer

from tinybgn.data import Dataset, load_dataset
from tinybgn.data.download import MIRRORS_ENV
from tinybgn.data.locate import ENV_VAR, files_in
from tinybgn.data.registry import get_spec, same_dataset_name

#: tinybgn's dependencies (setup.cfg) that test modules import at collection time.
REQUIRED = ("numpy", "matplotlib", "hypothesis")


def pytest_configure(config):
    """Stop with one clear message, instead of a collection error per test module, when pytest
    runs in a Python that lacks tinybgn's dependencies (e.g. the system one, not the venv)."""
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if missing:
        raise pytest.UsageError(
            f"this Python ({sys.executable}) lacks {', '.join(missing)}: run the tests in the "
            'environment the README installs (pip install -e ".[test]"), e.g. .venv/bin/pytest'
        )


settings.register_profile(
    "dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#: ../shared/data relative to the repository root: real MNIST test set and full Fashion-MNIST.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


def _is_local(host) -> bool:
    return not isinstance(host, str) or host in _LOCAL_HOSTS or host.startswith("127.")


def _guarded_connect(sock, address):
    host = address[0] if isinstance(address, tuple) else address
    if not _is_local(host):
        raise RuntimeError(f"tests must not reach the network: tried to connect to {address!r}")
    return _real_connect(sock, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_local(host):
        raise socket.gaierror(socket.EAI_NONAME, f"tests are offline: not resolving {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    monkeypatch.delenv(MIRRORS_ENV, raising=False)


def real_data_dir(name: str) -> Path | None:
    """The folder holding dataset ``name``'s files for tests: in ``TINYBGN_DATA`` (itself when it
    is the dataset's folder, else its ``<name>/`` subfolder), else in ../shared/data; or None.
    Only folders holding every file of each split they have count (test split at least)."""
    spec = get_spec(name)
    candidates = []
    if os.environ.get(ENV_VAR):
        env = Path(os.environ[ENV_VAR])
        candidates += [env] if same_dataset_name(env.name, spec) else [env / spec.name]
    candidates.append(SHARED_DATA / spec.name)
    for folder in candidates:
        if folder.is_dir() and "test" in files_in(folder, spec)[0]:
            return folder
    return None


def _real_or_skip(name: str, splits: set[str]) -> Path:
    folder = real_data_dir(name)
    if folder is None or not splits <= set(files_in(folder, get_spec(name))[0]):
        pytest.skip(
            f"needs the real {name} files ({', '.join(sorted(splits))}): set {ENV_VAR} to "
            f"their folder (see data/README.md)"
        )
    return folder


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder with MNIST's 10k test files (real digits), or skip."""
    return _real_or_skip("mnist", {"test"})


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """Folder with the full Fashion-MNIST (train and test), or skip."""
    return _real_or_skip("fashion-mnist", {"train", "test"})


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets beside the repository, or skip (prefer the fixtures above)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the real datasets: set {ENV_VAR} (see data/README.md)")
    return SHARED_DATA


@dataclass(frozen=True)
class Digits:
    """Real MNIST digits for a test: the 10k test files in ``data_dir``, or, when ``data_dir`` is
    None, the embedded sample of 3000 test digits shipped with tinybgn."""

    data_dir: Path | None

    @property
    def embedded(self) -> bool:
        return self.data_dir is None

    @property
    def size(self) -> int:
        """How many digits there are to carve train and test from."""
        return get_spec("mnist-sample" if self.embedded else "mnist").sizes["test"]

    def load(self, **kwargs) -> Dataset:
        """``load_dataset`` on these digits, train and test carved from them (no download)."""
        kwargs.setdefault("split", "carve")
        if self.embedded:
            return load_dataset("mnist-sample", **kwargs)
        return load_dataset("mnist", self.data_dir, download=False, **kwargs)


@pytest.fixture
def mnist_digits(monkeypatch, tmp_path) -> Digits:
    """Real MNIST digits: the full test set when available, else the embedded sample (see the
    module doc). Also points TINYBGN_DATA at them, or, for the sample, unsets it and moves the
    user cache into tmp_path so that only the sample can be found."""
    folder = real_data_dir("mnist")
    if folder is not None:
        monkeypatch.setenv(ENV_VAR, str(folder))
    else:
        monkeypatch.delenv(ENV_VAR, raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return Digits(folder)


@pytest.fixture
def serve_folder():
    """``serve_folder(path)`` serves the files in ``path`` at the returned
    ``http://127.0.0.1:PORT/`` until the test ends (also ``/down/``, ``/cut/``... prefixes, see
    tests/mirror_server.py). Works for subprocesses too, e.g. ``TINYBGN_MIRRORS=<url> tinybgn``."""
    servers = []

    def serve(path: str | os.PathLike) -> str:
        server = MirrorServer.of_folder(Path(path)).__enter__()
        servers.append(server)
        return server.base + "/"

    yield serve
    for server in servers:
        server.__exit__(None, None, None)
