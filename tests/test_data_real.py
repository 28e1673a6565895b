"""The real files load and verify: the MNIST test set and full Fashion-MNIST.

Uses the ``mnist_dir`` and ``fashion_dir`` fixtures of conftest.py (TINYBGN_DATA, then
../shared/data; they skip when the files are missing). No test here downloads anything.
"""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from tinybgn.data import (
    CarvedSplitWarning,
    ChecksumError,
    DataNotFoundError,
    load_dataset,
    read_idx,
    read_split,
)
from tinybgn.data.checksum import read_verified
from tinybgn.data.locate import ENV_VAR
from tinybgn.data.registry import get_spec


@pytest.fixture(scope="module")
def fashion(fashion_dir):
    """Full Fashion-MNIST (60k + 10k), loaded once for the module."""
    return load_dataset("fashion-mnist", fashion_dir, download=False)


def test_mnist_test_set_reads_as_documented(mnist_dir):
    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and labels[:5].tolist() == [7, 2, 1, 0, 4]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_every_real_file_matches_its_registered_content_md5_and_size(request, name):
    folder = request.getfixturevalue("mnist_dir" if name == "mnist" else "fashion_dir")
    checked = 0
    for file_spec in get_spec(name).all_files():
        path = folder / file_spec.filename
        if path.exists():
            assert len(read_verified(path, file_spec)) == file_spec.size
            checked += 1
    assert checked >= (2 if name == "mnist" else 4)


def test_mnist_loads_carved_from_the_10k_test_set_and_says_so(mnist_dir):
    with pytest.warns(CarvedSplitWarning, match="only the test split"):
        ds = load_dataset("mnist", mnist_dir)
    (x_train, y_train), (x_test, y_test) = ds
    assert x_train.shape == (8_000, 784) and x_test.shape == (2_000, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 == x_train.min() and x_train.max() == 1.0
    assert ds.info["split"] == "carved from t10k: 8000 train / 2000 test (seed 0)"
    assert ds.info["directory"] == str(mnist_dir)
    assert ds.info["source"] == f"MNIST t10k files in {mnist_dir} (data_dir argument)"
    json.dumps(ds.info)
    shares = np.bincount(y_test, minlength=10) / len(y_test)
    full = np.bincount(read_split("mnist", "test", mnist_dir)[1], minlength=10) / 10_000
    np.testing.assert_allclose(shares, full, atol=1 / 2000)  # stratified


def test_mnist_is_found_through_the_env_var_in_both_layouts(mnist_dir, tmp_path, monkeypatch):
    (tmp_path / "mnist").symlink_to(mnist_dir)
    for value in (tmp_path, tmp_path / "mnist"):  # root holding mnist/, or mnist/ itself
        monkeypatch.setenv(ENV_VAR, str(value))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds = load_dataset("mnist", split="carve", n_train=100, n_test=50)
        assert ds.info["found_via"] == ENV_VAR and ds.info["n_train"] == 100


def test_mnist_files_are_not_taken_for_fashion_mnist(mnist_dir, tmp_path):
    """A folder named after MNIST is not searched for Fashion-MNIST; a Fashion-MNIST folder
    holding MNIST's files is, and the checksums name what the files really are."""
    with pytest.raises(DataNotFoundError):
        load_dataset("fashion-mnist", mnist_dir, download=False)
    (tmp_path / "fashion-mnist").symlink_to(mnist_dir)
    with pytest.raises(ChecksumError, match="content of mnist t10k-images"):
        load_dataset("fashion-mnist", tmp_path, download=False)


def test_mnist_standard_split_needs_the_training_files(mnist_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="only test.*tinybgn data download mnist"):
        load_dataset("mnist", mnist_dir, split="standard", download=False)
    # with downloads allowed (offline here: tests resolve no host name) it says both
    copy = shutil.copytree(mnist_dir, tmp_path / "mnist")
    with pytest.raises(DataNotFoundError, match="has only test, and downloading the rest failed"):
        load_dataset("mnist", copy, split="standard", download_options={"backoff": 0})
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in mnist_dir.iterdir())


def test_full_fashion_mnist_is_the_standard_split(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    assert x_train.shape == (60_000, 784) and x_test.shape == (10_000, 784)
    assert fashion.info["split"] == "standard" and fashion.x_val is None
    assert np.bincount(y_train).tolist() == [6_000] * 10
    assert np.bincount(y_test).tolist() == [1_000] * 10
    assert fashion.info["class_names"][9] == "Ankle boot"
