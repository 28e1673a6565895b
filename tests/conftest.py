"""Shared test configuration.

* hypothesis profiles: ``dev`` (default) and ``ci`` (chosen when the CI variable is set) differ only
  in how many examples they try; neither has a deadline, since timings on shared machines are noisy.
* A guard that fails any test that tries to open a network connection to a host other than this
  machine (tests use local servers on 127.0.0.1 only).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

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


def _guarded_connect(sock, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in _LOCAL_HOSTS and not host.startswith("127."):
        raise RuntimeError(f"tests must not reach the network: tried to connect to {address!r}")
    return _real_connect(sock, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets beside the repository, or skip if it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (see DEVELOPERS.md)")
    return SHARED_DATA
