"""Load a registered dataset as float arrays ready for a fully connected network.

``load_dataset("mnist")`` finds the files (see :mod:`tinybgn.data.locate`), verifies every
file's content checksum, checks that images and labels agree, and returns a :class:`Dataset`:

* images as ``float32`` in ``[0, 1]`` (pixel / 255), flattened to ``(N, 784)`` - the paper's
  *permutation-invariant* setting, where the network may not exploit the 2-D layout; with
  ``permute_pixels=True`` one fixed, seeded shuffle of the 784 pixel positions is applied to
  every image, which makes that explicit;
* labels as ``int64`` class indices in ``[0, 10)``.

Which split is used is always visible in ``Dataset.info["split"]``: ``"standard"`` for the
dataset's own train/test files, or e.g. ``"carved from t10k: 8000 train / 2000 test (seed 0)"``
when train and test were carved out of a single labelled split (stratified: every class keeps
its share).

A dataset that is not found anywhere is downloaded (``download=True``, the default; see
:mod:`tinybgn.data.download`); one split present is used as it is. With ``fallback="sample"``,
MNIST that can be neither found nor downloaded is replaced by the embedded sample of real MNIST
test digits shipped with tinybgn, with one :class:`EmbeddedSampleWarning` saying so.
``Dataset.info["source"]`` always says in one line where the digits came from.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinybgn.data.checksum import read_verified
from tinybgn.data.download import fetch_dataset, mirror_list
from tinybgn.data.errors import (
    CarvedSplitWarning,
    DataIntegrityError,
    DataNotFoundError,
    DownloadError,
    EmbeddedSampleWarning,
    SplitError,
)
from tinybgn.data.idx import parse_idx
from tinybgn.data.locate import Located, files_in, find_dataset
from tinybgn.data.registry import MNIST_SAMPLE, SPLITS, DatasetSpec, get_spec

SPLIT_MODES = ("auto", "standard", "carve")
FALLBACKS = (None, "sample")


@dataclass(repr=False)
class Dataset:
    """Train, test and optional validation arrays, plus ``info`` describing how they were made.

    Unpacks like ``keras.datasets``: ``(x_train, y_train), (x_test, y_test) = dataset``
    (the validation arrays, when asked for, are ``dataset.x_val`` and ``dataset.y_val``).
    ``info`` is JSON-serialisable, for experiment reports. ``permutation`` is the pixel
    permutation applied (``x = original[:, permutation]``), or None.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    permutation: np.ndarray | None = None

    def __iter__(self):
        return iter(((self.x_train, self.y_train), (self.x_test, self.y_test)))

    def __repr__(self) -> str:
        def shape(a):
            return "None" if a is None else f"{a.shape} {a.dtype}"

        return (
            f"Dataset({self.info.get('name')!r}, split={self.info.get('split')!r}, "
            f"train={shape(self.x_train)}, val={shape(self.x_val)}, "
            f"test={shape(self.x_test)})"
        )


def check_labelled_pair(
    images: np.ndarray, labels: np.ndarray, spec: DatasetSpec, source: str = ""
) -> None:
    """Raise DataIntegrityError unless ``images`` and ``labels`` form a valid split of ``spec``.

    Checks: images are uint8 of shape ``(N, *spec.image_shape)``, labels are a 1-D integer
    array of the same length N, and every label is in ``[0, spec.n_classes)``.
    """
    where = f" ({source})" if source else ""
    want = ("N", *spec.image_shape)
    if images.dtype != np.uint8 or images.shape[1:] != spec.image_shape:
        raise DataIntegrityError(
            f"{spec.name}{where}: images should be uint8 of shape {want}, got {images.dtype} "
            f"of shape {images.shape}. Is this the right images file?"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataIntegrityError(
            f"{spec.name}{where}: labels should be a 1-D integer array, got {labels.dtype} "
            f"of shape {labels.shape}. Is this the right labels file?"
        )
    if len(images) != len(labels):
        raise DataIntegrityError(
            f"{spec.name}{where}: {len(images)} images but {len(labels)} labels; the two files "
            f"do not belong together (or one is from another split)."
        )
    bad = (labels < 0) | (labels >= spec.n_classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataIntegrityError(
            f"{spec.name}{where}: {int(bad.sum())} labels outside [0, {spec.n_classes}), "
            f"the first is {int(labels[first])} at index {first}; the labels file is wrong."
        )


def read_split(
    name: str | DatasetSpec,
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    located: Located | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The raw images (uint8, ``(N, 28, 28)``) and labels (int64) of one split, verified.

    Raises DataNotFoundError, ChecksumError, IDXFormatError or DataIntegrityError.
    """
    spec = get_spec(name)
    located = located or find_dataset(spec, data_dir)
    if split not in located.paths:
        raise DataNotFoundError(
            f"{spec.name}: no {split!r} split in {located.directory} "
            f"(present: {', '.join(located.splits)}); run `tinybgn data "
            f"download {spec.name}` or allow download=True"
        )
    arrays = []
    for path, file_spec in zip(located.paths[split], spec.files[split], strict=True):
        content = read_verified(path, file_spec)
        arrays.append(parse_idx(content, source=str(path)))
    images, labels = arrays
    check_labelled_pair(images, labels, spec, source=f"{split} split in {located.directory}")
    return images, labels.astype(np.int64)


def stratified_split(
    labels: np.ndarray, n_second: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices ``0..N-1`` in two, the second of size ``n_second``, keeping class shares.

    Each class ``k`` with ``c_k`` examples gives ``n_second * c_k / N`` of them to the second
    part, rounded so the total is exact (largest remainders first). Which examples go is drawn
    with ``rng``. Both index arrays are sorted, so the original order is kept within each part.
    """
    classes, counts = np.unique(labels, return_counts=True)
    quota = n_second * counts / counts.sum()
    take = np.floor(quota).astype(np.int64)
    remainder = n_second - int(take.sum())
    take[np.argsort(-(quota - take), kind="stable")[:remainder]] += 1
    second = [
        rng.permutation(np.flatnonzero(labels == k))[:n] for k, n in zip(classes, take, strict=True)
    ]
    second = np.sort(np.concatenate(second)) if second else np.empty(0, np.int64)
    first = np.setdiff1d(np.arange(len(labels)), second, assume_unique=True)
    return first, second


def _count(size: int | float, available: int, what: str) -> int:
    """A size given as a count (int) or a share of ``available`` (float in [0, 1]), as a count."""
    if isinstance(size, float):
        if not 0.0 <= size <= 1.0:
            raise SplitError(f"{what} as a fraction must be in [0, 1], got {size}")
        n = int(round(size * available))
    else:
        n = int(size)
    if not 0 <= n <= available:
        raise SplitError(
            f"{what}={size} asks for {n} examples but only {available} are "
            f"available; ask for at most {available}."
        )
    return n


def _source_label(spec: DatasetSpec, split: str) -> str:
    """Short name of a split's files, e.g. ``t10k`` for MNIST's test split."""
    return spec.files[split][0].filename.split("-")[0]


def _find(
    spec: DatasetSpec, data_dir, split: str, want_download: bool, mirrors, options
) -> tuple[Located, str]:
    """Locate the dataset, downloading it when it is missing; returns it and its ``source``.

    Downloads happen (with ``want_download``) when no split is found, or when ``split`` is
    ``"standard"`` and one is missing; one split present is used as it is (carved from).
    """
    name = spec.description or spec.name
    can_download = want_download and bool(mirror_list(spec, mirrors))
    located = None
    try:
        located = find_dataset(spec, data_dir)
        if located.origin == "embedded":
            return located, name
        if not (can_download and split == "standard" and len(located.splits) < len(SPLITS)):
            files = "+".join(_source_label(spec, s) for s in located.splits)
            return located, f"{name} {files} files in {located.directory} ({located.origin})"
    except DataNotFoundError:
        if not can_download:
            raise
    try:
        directory, urls = fetch_dataset(spec, data_dir, mirrors=mirrors, **(options or {}))
    except DownloadError as err:
        if located is None:
            raise
        raise DataNotFoundError(
            f"{spec.name}: split='standard' needs both train and test files, but "
            f"{located.directory} has only {', '.join(located.splits)}, and downloading the "
            f"rest failed: {err}"
        ) from err
    located = Located(spec, directory, "download", files_in(directory, spec)[0])
    fetched = sorted({u.rsplit("/", 1)[0] + "/" for u in urls.values() if u})
    came = f"downloaded from {', '.join(fetched)} into" if fetched else "in"
    files = "+".join(_source_label(spec, s) for s in located.splits)
    return located, f"{name} {files} files {came} {directory}"


def _fall_back_to_sample(spec: DatasetSpec, reason: Exception, download: bool) -> Located:
    """The embedded sample in place of ``spec`` (MNIST), with one warning saying why."""
    lines = str(reason).splitlines() + [""]
    if not download:
        why = "it is not on this machine and downloads are off (download=False)"
    elif isinstance(reason, DownloadError):
        first_failure = (lines[1] or lines[0]).strip()
        why = f"it is not on this machine and downloading it failed ({first_failure}...)"
    else:
        why = lines[0]
    warnings.warn(
        f"using the {MNIST_SAMPLE.description} shipped with tinybgn instead of {spec.name}: "
        f"{why}. Train and test are carved from the sample; results are not comparable with "
        f"the full dataset. Get it with `tinybgn data download {spec.name}`, or point "
        f"TINYBGN_DATA (or TINYBGN_MIRRORS) at a copy.",
        EmbeddedSampleWarning,
        stacklevel=3,
    )
    return find_dataset(MNIST_SAMPLE)


def load_dataset(
    name: str | DatasetSpec = "mnist",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    fallback: str | None = None,
    split: str = "auto",
    n_train: int | None = None,
    n_test: int | None = None,
    val_size: int | float = 0,
    test_size: int | float = 0.2,
    permute_pixels: bool = False,
    seed: int = 0,
    flatten: bool = True,
    mirrors: Sequence[str] | None = None,
    download_options: dict | None = None,
) -> Dataset:
    """Load dataset ``name`` (``"mnist"``, ``"fashion-mnist"``) as float32 images and int64 labels.

    Parameters
    ----------
    data_dir : folder searched first (then ``TINYBGN_DATA``, the project/user folder, Debian's).
    download : fetch the dataset from the mirrors when it is not found (``TINYBGN_MIRRORS``
        first, then the registry's); False forbids any network access. One split present (e.g.
        only MNIST's 10k test files) is used without downloading, carved as described below.
    fallback : ``"sample"`` (MNIST only): when MNIST is neither found nor downloadable, load
        the embedded sample of 3000 real MNIST test digits instead, with one
        :class:`EmbeddedSampleWarning` saying why; ``info["source"]`` names the sample and
        ``info["found_via"]`` is ``"embedded"``. None (default): raise instead.
    split : ``"auto"`` - the standard train/test split when both are present, else carve train
        and test out of the one labelled split present, with a :class:`CarvedSplitWarning`;
        ``"standard"`` - require both; ``"carve"`` - always carve (from train when present).
    test_size : share (float) or count (int) of the carved split that becomes the test set.
    val_size : share (float) or count (int) of the training examples set aside for validation
        (stratified); 0 means no validation set (``x_val`` is None).
    n_train, n_test : keep a stratified subset of this many training (after the validation
        examples are set aside) / test examples.
    permute_pixels : apply one fixed pixel permutation, drawn from ``seed``, to all images.
    seed : seeds the carving, validation split, subsets and permutation (each from its own
        stream, so e.g. the permutation does not depend on ``n_train``).
    flatten : images as ``(N, 784)`` (default) or ``(N, 28, 28)``.
    mirrors : URL prefixes to download from instead of ``TINYBGN_MIRRORS`` and the registry's.
    download_options : extra keyword arguments for :func:`download_dataset` (``timeout``,
        ``deadline``, ``retries``, ``backoff``, ``progress``, ``log``, ``splits``).

    Returns a :class:`Dataset`; ``(x_train, y_train), (x_test, y_test) = load_dataset(...)``.
    ``info`` records ``name``, ``source`` (one line: where the digits came from), ``found_via``,
    ``directory``, ``split``, ``files`` (content MD5s), subsets, sizes and classes.
    Raises DataNotFoundError, DownloadError, ChecksumError, IDXFormatError, DataIntegrityError
    or SplitError (DataDirError when ``data_dir`` or ``TINYBGN_DATA`` is a file).
    """
    spec = get_spec(name)
    if split not in SPLIT_MODES:
        raise ValueError(f"split must be one of {SPLIT_MODES}, got {split!r}")
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
    if fallback == "sample" and spec.name != "mnist":
        raise ValueError(f"fallback='sample' exists for mnist only, not {spec.name!r}")
    try:
        located, source = _find(spec, data_dir, split, download, mirrors, download_options)
    except (DataNotFoundError, DownloadError) as err:
        if fallback is None:
            raise
        located = _fall_back_to_sample(spec, err, download)
        source = MNIST_SAMPLE.description
    embedded = located.spec is MNIST_SAMPLE
    files_spec = located.spec  # the checksums to verify: the sample's own when it stands in
    present = located.splits
    split_rng, perm_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))

    info: dict = {
        "name": spec.name,
        "directory": str(located.directory),
        "found_via": located.origin,
        "source": source,
        "splits_present": list(present),
        "seed": seed,
    }
    if split == "standard" or (split == "auto" and set(present) == set(SPLITS)):
        if set(present) != set(SPLITS):
            raise DataNotFoundError(
                f"{spec.name}: split='standard' needs both train and test files, but "
                f"{located.directory} has only {', '.join(present)}. Download the rest "
                f"(tinybgn data download {spec.name}) or use split='carve'."
            )
        x_train, y_train = read_split(files_spec, "train", located=located)
        x_test, y_test = read_split(files_spec, "test", located=located)
        used = SPLITS
        info["split"] = "standard"
    else:
        carved_from = "train" if "train" in present else "test"
        x_all, y_all = read_split(files_spec, carved_from, located=located)
        n_carved_test = _count(test_size, len(y_all), "test_size")
        if not 0 < n_carved_test < len(y_all):
            raise SplitError(
                f"test_size={test_size} leaves no test or no training examples "
                f"out of {len(y_all)}; ask for between 1 and {len(y_all) - 1}"
            )
        train_idx, test_idx = stratified_split(y_all, n_carved_test, split_rng)
        x_train, y_train, x_test, y_test = (
            x_all[train_idx],
            y_all[train_idx],
            x_all[test_idx],
            y_all[test_idx],
        )
        used = (carved_from,)
        info["split"] = (
            f"carved from {_source_label(spec, carved_from)}: {len(y_train)} train / "
            f"{len(y_test)} test (seed {seed})"
        )
        if split == "auto" and not embedded:  # the sample's own warning says it is carved
            warnings.warn(
                f"{spec.name}: only the {carved_from} split is present in {located.directory}, so "
                f"train and test were {info['split']}; results are not comparable with the "
                f"standard split. Pass split='carve' to silence this warning.",
                CarvedSplitWarning,
                stacklevel=2,
            )
    info["files"] = {
        Path(p).name: f.md5
        for s in used
        for p, f in zip(located.paths[s], files_spec.files[s], strict=True)
    }

    x_val = y_val = None
    n_val = _count(val_size, len(y_train), "val_size")
    if n_val:
        keep, val = stratified_split(y_train, n_val, split_rng)
        x_val, y_val = x_train[val], y_train[val]
        x_train, y_train = x_train[keep], y_train[keep]
    info["validation"] = (
        f"{n_val} examples set aside from train (stratified, seed {seed})" if n_val else None
    )

    subsets = []
    if n_train is not None:
        available = len(y_train)
        n = _count(int(n_train), available, "n_train")
        _, keep = stratified_split(y_train, n, split_rng)
        x_train, y_train = x_train[keep], y_train[keep]
        subsets.append(f"train: {n} of {available}")
    if n_test is not None:
        available = len(y_test)
        n = _count(int(n_test), available, "n_test")
        _, keep = stratified_split(y_test, n, split_rng)
        x_test, y_test = x_test[keep], y_test[keep]
        subsets.append(f"test: {n} of {available}")
    info["subsets"] = (", ".join(subsets) + f" (stratified, seed {seed})") if subsets else None

    n_pixels = math.prod(spec.image_shape)
    permutation = perm_rng.permutation(n_pixels) if permute_pixels else None

    def prepare(x: np.ndarray | None) -> np.ndarray | None:
        if x is None:
            return None
        out = x.reshape(len(x), n_pixels).astype(np.float32) / np.float32(255)
        if permutation is not None:
            out = out[:, permutation]
        return out if flatten else out.reshape(len(x), *spec.image_shape)

    info.update(
        {
            "n_train": len(y_train),
            "n_val": 0 if y_val is None else len(y_val),
            "n_test": len(y_test),
            "permute_pixels": bool(permute_pixels),
            "flatten": flatten,
            "image_shape": list(spec.image_shape),
            "n_classes": spec.n_classes,
            "class_names": list(spec.class_names),
        }
    )
    return Dataset(
        prepare(x_train), y_train, prepare(x_test), y_test, prepare(x_val), y_val, info, permutation
    )


def load_mnist(data_dir: str | os.PathLike | None = None, **kwargs) -> Dataset:
    """``load_dataset("mnist", data_dir, **kwargs)``."""
    return load_dataset("mnist", data_dir, **kwargs)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, **kwargs) -> Dataset:
    """``load_dataset("fashion-mnist", data_dir, **kwargs)``."""
    return load_dataset("fashion-mnist", data_dir, **kwargs)
