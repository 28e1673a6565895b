"""tinybgn.blas: reading and setting the OpenBLAS thread count through ctypes."""

from __future__ import annotations

import numpy as np
import pytest

from tinybgn import blas


def test_info_names_the_library_numpy_loaded():
    info = blas.info()
    assert set(info) == {"library", "config", "core", "num_threads", "env"}
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    if "openblas" not in config["name"]:
        pytest.skip(f"NumPy uses {config['name']}, not OpenBLAS")
    assert "openblas" in info["library"].lower() and info["num_threads"] >= 1
    # the kernel chosen for this CPU; a DYNAMIC_ARCH build names it in its config string too
    assert info["core"] and info["core"] in info["config"]


def test_set_num_threads_changes_the_count_and_returns_the_previous_one():
    before = blas.num_threads()
    if before is None:
        pytest.skip("no OpenBLAS found in this process")
    try:
        assert blas.set_num_threads(2) == before
        assert blas.num_threads() == 2
        assert blas.set_num_threads(1) == 2
        assert blas.info()["num_threads"] == 1
    finally:
        blas.set_num_threads(before)
    assert blas.num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_set_num_threads_rejects_non_positive_integers(bad):
    with pytest.raises(ValueError, match="positive integer"):
        blas.set_num_threads(bad)
