"""The embedded sample: a few thousand real MNIST test digits shipped inside tinybgn.

So that a fresh clone (no dataset, no network) can still train on real digits, tinybgn ships
``tinybgn/data/sample/``: ``PER_CLASS`` digits of each class drawn from MNIST's 10,000-digit
test set (the ``t10k`` files), stored as IDX+gzip under the usual ``t10k-*`` names and
registered as the dataset ``mnist-sample`` (checksums in :mod:`tinybgn.data.registry`).
``load_dataset("mnist", fallback="sample")`` uses it when MNIST is missing; see the README
in that folder for provenance and licence.

How it is drawn: with ``rng = numpy.random.default_rng(SEED)``, for each class 0..9 in turn,
``rng.choice`` picks ``PER_CLASS`` of that class's test-set indices without replacement; all
picked indices are sorted, so the sample keeps the test set's order. Rebuild it with::

    python -m tinybgn.data.embedded /path/to/mnist

where the folder holds MNIST's ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``
(their checksums are verified first). The command rewrites ``tinybgn/data/sample/`` and prints
the content MD5s, which must equal the registry's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np

from tinybgn.data.checksum import md5_hex
from tinybgn.data.idx import idx_bytes, write_idx
from tinybgn.data.load import read_split
from tinybgn.data.registry import MNIST_SAMPLE, SAMPLE_SIZE

PER_CLASS = SAMPLE_SIZE // 10
SEED = 2021  # the year of the paper
SAMPLE_DIR = MNIST_SAMPLE.location


def draw_indices(labels: np.ndarray, per_class: int = PER_CLASS, seed: int = SEED) -> np.ndarray:
    """Sorted indices of ``per_class`` examples of each class, drawn as the module doc says."""
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(labels == k), per_class, replace=False)
        for k in range(int(labels.max()) + 1)
    ]
    return np.sort(np.concatenate(picked))


def build_sample(
    source_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None
) -> dict[str, tuple[str, str]]:
    """Write the sample drawn from the MNIST test files in ``source_dir`` into ``out_dir``
    (default: the package's ``sample/`` folder). Returns ``{file name: (content MD5, archive
    MD5)}``."""
    out_dir = Path(out_dir or SAMPLE_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    images, labels = read_split("mnist", "test", source_dir)
    keep = draw_indices(labels)
    arrays = (images[keep], labels[keep].astype(np.uint8))
    md5s = {}
    for file_spec, array in zip(MNIST_SAMPLE.files["test"], arrays, strict=True):
        path = write_idx(out_dir / file_spec.filename, array)
        archive = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        md5s[file_spec.filename] = (md5_hex(idx_bytes(array)), archive)
    return md5s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinybgn.data.embedded",
        description="Rebuild tinybgn's embedded sample of real MNIST test digits.",
    )
    parser.add_argument("source", type=Path, help="folder holding MNIST's t10k-*.gz files")
    parser.add_argument("--out", type=Path, default=None, help=f"default: {SAMPLE_DIR}")
    args = parser.parse_args(argv)
    for name, (content, archive) in build_sample(args.source, args.out).items():
        print(f"{name}  content MD5 {content}  archive MD5 {archive}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
