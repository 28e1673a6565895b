"""The embedded sample (tinybgn/data/sample/): real MNIST test digits, verified, documented,
rebuildable, shipped in the wheel, and the only dataset files the repository holds."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinybgn.data import MNIST_SAMPLE, load_dataset, read_split
from tinybgn.data.checksum import read_verified
from tinybgn.data.embedded import PER_CLASS, SEED, build_sample, draw_indices
from tinybgn.data.registry import get_spec

REPO = Path(__file__).resolve().parents[1]
SAMPLE = MNIST_SAMPLE.location


def test_the_sample_is_small_balanced_and_verified_on_load():
    assert SAMPLE == REPO / "tinybgn" / "data" / "sample" or not (REPO / "setup.cfg").exists()
    assert sum(p.stat().st_size for p in SAMPLE.glob("*.gz")) < 600_000  # well under 1 MB
    images, labels = read_split("mnist-sample", "test")
    assert images.shape == (3000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [PER_CLASS] * 10
    for f in MNIST_SAMPLE.all_files():
        assert len(read_verified(SAMPLE / f.filename, f)) == f.size
    ds = load_dataset("mnist-sample", split="carve")
    assert ds.info["found_via"] == "embedded"
    assert ds.info["source"] == "embedded sample of 3000 real MNIST test digits"


def test_the_sample_is_a_subset_of_the_real_test_set_drawn_as_documented(mnist_dir, tmp_path):
    images, labels = read_split("mnist", "test", mnist_dir)
    keep = draw_indices(labels, PER_CLASS, SEED)
    sample_images, sample_labels = read_split("mnist-sample", "test")
    np.testing.assert_array_equal(sample_images, images[keep])
    np.testing.assert_array_equal(sample_labels, labels[keep])
    # the documented rebuild command gives files with the registered content checksums
    md5s = build_sample(mnist_dir, tmp_path)
    assert {name: content for name, (content, _) in md5s.items()} == {
        f.filename: f.md5 for f in MNIST_SAMPLE.all_files()
    }


def test_the_readme_gives_the_registered_checksums_the_rebuild_command_and_the_licence():
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    for f in [*MNIST_SAMPLE.all_files(), *get_spec("mnist").files["test"]]:
        assert f.md5 in text, f.filename
    assert "python -m tinybgn.data.embedded /path/to/mnist" in text
    assert f"default_rng({SEED})" in text and f"{PER_CLASS} of that class" in text
    assert "Creative Commons Attribution-Share Alike 3.0" in text
    assert "LeCun" in text and "Cortes" in text


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout"
)
def test_the_sample_is_the_only_dataset_file_git_tracks_or_admits():
    tracked = [p for p in _git("ls-files").splitlines() if re.search(r"-ubyte(\.|$)", p)]
    assert sorted(tracked) == [
        "tinybgn/data/sample/t10k-images-idx3-ubyte.gz",
        "tinybgn/data/sample/t10k-labels-idx1-ubyte.gz",
    ]
    elsewhere = ["data/mnist/t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte", "x/y-ubyte.gz"]
    ignored = _git("check-ignore", "--no-index", *elsewhere).splitlines()
    assert sorted(ignored) == sorted(elsewhere)


@pytest.mark.slow
def test_a_wheel_ships_the_sample(tmp_path):
    """A non-editable install has the sample too (setup.cfg's package_data)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
    )
    (wheel,) = tmp_path.glob("tinybgn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for f in ["README.md", *(f.filename for f in MNIST_SAMPLE.all_files())]:
        assert f"tinybgn/data/sample/{f}" in names
