"""Datasets for tinybgn: IDX files, MNIST / Fashion-MNIST loading, downloads and batches.

Quick start::

    from tinybgn.data import load_dataset, batches
    (x_train, y_train), (x_test, y_test) = load_dataset("mnist")   # float32 (N, 784), int64
    for xb, yb in batches(x_train, y_train, 128, seed=0):
        ...

A dataset not found locally is downloaded (``download=False`` forbids it; ``TINYBGN_MIRRORS``
adds mirrors); ``fallback="sample"`` falls back to the embedded sample of real MNIST test digits.
Modules, one concept each: ``idx`` (the file format), ``registry`` (datasets, checksums,
mirrors), ``checksum``, ``locate`` (search path), ``download``, ``load``, ``batches``,
``embedded`` (builds the shipped sample), ``errors``, ``cli`` (the ``tinybgn data`` command).
"""

from tinybgn.data.batches import batches
from tinybgn.data.download import download_dataset
from tinybgn.data.errors import (
    CarvedSplitWarning,
    ChecksumError,
    ContentSizeError,
    DataDirError,
    DataError,
    DataIntegrityError,
    DataNotFoundError,
    DownloadError,
    EmbeddedSampleWarning,
    IDXFormatError,
    SplitError,
    UnknownDatasetError,
)
from tinybgn.data.idx import read_idx, write_idx
from tinybgn.data.load import (
    Dataset,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    read_split,
    stratified_split,
)
from tinybgn.data.locate import find_dataset, search_roots
from tinybgn.data.registry import (
    DATASETS,
    MNIST_SAMPLE,
    DatasetSpec,
    FileSpec,
    get_spec,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "MNIST_SAMPLE",
    "CarvedSplitWarning",
    "ChecksumError",
    "ContentSizeError",
    "DataDirError",
    "DataError",
    "DataIntegrityError",
    "DataNotFoundError",
    "Dataset",
    "DatasetSpec",
    "DownloadError",
    "EmbeddedSampleWarning",
    "FileSpec",
    "IDXFormatError",
    "SplitError",
    "UnknownDatasetError",
    "batches",
    "download_dataset",
    "get_spec",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "find_dataset",
    "read_idx",
    "read_split",
    "register_dataset",
    "search_roots",
    "stratified_split",
    "write_idx",
]
