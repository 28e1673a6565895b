"""The datasets tinybgn knows: their files, checksums and mirrors.

A dataset here is two labelled splits, ``train`` and ``test``, each an IDX image file and an IDX
label file. Checksums are MD5s of the *decompressed* content: mirrors serve the same bytes
gzip-compressed in different ways, so the archive checksums differ between them while the
content's does not.

Mirrors are tried in order; each is a URL prefix to which the file name is appended. The
original yann.lecun.com site comes last because it has answered 403 to scripts
(pytorch/vision#1938).

Register your own IDX dataset (KMNIST, EMNIST...) with :func:`register_dataset`; everything in
:mod:`tinybgn.data` then works with its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tinybgn.data.errors import UnknownDatasetError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its name, the MD5 of its decompressed content and, when known, the
    content's size in bytes. The size bounds decompression and downloads: a file whose content
    would be larger is rejected before it is read whole (a gzip "bomb" or a wrong file)."""

    filename: str
    md5: str
    size: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, fetch and check a dataset.

    ``files`` maps each split (``"train"``, ``"test"``) to its ``(images, labels)`` files;
    ``sizes`` gives the number of examples per split, used in messages and by ``info``.
    """

    name: str
    files: dict[str, tuple[FileSpec, FileSpec]]
    mirrors: tuple[str, ...]
    image_shape: tuple[int, ...] = (28, 28)
    class_names: tuple[str, ...] = tuple(str(d) for d in range(10))
    sizes: dict[str, int] = field(default_factory=dict)
    homepage: str = ""
    location: Path | None = None  # files shipped inside the package: looked for here only
    description: str = ""  # one line naming the data, e.g. for Dataset.info["source"]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def all_files(self) -> list[FileSpec]:
        """The files of every split, train first."""
        return [f for split in SPLITS if split in self.files for f in self.files[split]]


#: Examples per split of MNIST and Fashion-MNIST.
FULL_SIZES = {"train": 60_000, "test": 10_000}


def idx_content_size(n: int, item_shape: tuple[int, ...] = ()) -> int:
    """Bytes of an uncompressed uint8 IDX file of ``n`` items of ``item_shape``: the 4-byte
    magic number, one 4-byte size per dimension, then the payload (see :mod:`tinybgn.data.idx`)."""
    payload = n
    for d in item_shape:
        payload *= d
    return 4 + 4 * (1 + len(item_shape)) + payload


def _standard_files(
    md5s: dict[str, str], sizes: dict[str, int], image_shape: tuple[int, ...] = (28, 28)
) -> dict[str, tuple[FileSpec, FileSpec]]:
    """MNIST-style file names (``train-*``, ``t10k-*``), with content MD5s and sizes, for the
    splits in ``sizes``."""
    prefix = {"train": "train", "test": "t10k"}
    out = {}
    for split, n in sizes.items():
        images = f"{prefix[split]}-images-idx3-ubyte.gz"
        labels = f"{prefix[split]}-labels-idx1-ubyte.gz"
        out[split] = (
            FileSpec(images, md5s[images], idx_content_size(n, image_shape)),
            FileSpec(labels, md5s[labels], idx_content_size(n)),
        )
    return out


MNIST = DatasetSpec(
    name="mnist",
    files=_standard_files(
        {
            "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
        },
        FULL_SIZES,
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    sizes=FULL_SIZES,
    homepage="http://yann.lecun.com/exdb/mnist/",
    description="MNIST",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    files=_standard_files(
        {
            "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        FULL_SIZES,
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    sizes=FULL_SIZES,
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    description="Fashion-MNIST",
)

#: The embedded sample (tinybgn/data/sample/, built by :mod:`tinybgn.data.sample`): real MNIST
#: test digits shipped with the package, used by ``load_dataset("mnist", fallback="sample")``
#: when no full copy can be found or downloaded. Its README gives provenance and licence.
SAMPLE_SIZE = 3_000
MNIST_SAMPLE = DatasetSpec(
    name="mnist-sample",
    files=_standard_files(
        {
            "t10k-images-idx3-ubyte.gz": "150923a1642ffafc54244ecc6f295729",
            "t10k-labels-idx1-ubyte.gz": "d52f7eacdaade53bb32b23cbdd721d87",
        },
        {"test": SAMPLE_SIZE},
    ),
    mirrors=(),
    sizes={"test": SAMPLE_SIZE},
    homepage="http://yann.lecun.com/exdb/mnist/",
    location=Path(__file__).resolve().parent / "sample",
    description=f"embedded sample of {SAMPLE_SIZE} real MNIST test digits",
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (MNIST, FASHION_MNIST, MNIST_SAMPLE)
}


_ALIASES = {"fashionmnist": "fashion-mnist"}


def _key(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    return _ALIASES.get(key, key)


def same_dataset_name(folder_name: str, spec: DatasetSpec) -> bool:
    """Whether a folder called ``folder_name`` is ``spec``'s own folder (case and ``_``/``-``
    do not matter, so ``Fashion_MNIST`` is fashion-mnist's)."""
    return _key(folder_name) == _key(spec.name)


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` to the registry under ``spec.name``; returns it."""
    key = _key(spec.name)
    if key in DATASETS and not replace:
        raise ValueError(f"a dataset named {key!r} is already registered; pass replace=True")
    DATASETS[key] = spec
    return spec


def unregister_dataset(name: str) -> None:
    """Remove a dataset added with :func:`register_dataset` (no error if absent)."""
    DATASETS.pop(_key(name), None)


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The registered dataset called ``name`` (case and ``_``/``-`` do not matter).

    A :class:`DatasetSpec` is returned unchanged, so functions accept either.
    """
    if isinstance(name, DatasetSpec):
        return name
    key = _key(name)
    if key not in DATASETS:
        known = ", ".join(sorted(DATASETS))
        raise UnknownDatasetError(f"unknown dataset {name!r}; known datasets: {known}")
    return DATASETS[key]


def find_md5_owner(md5: str) -> str | None:
    """``"<dataset> <file>"`` whose content has this MD5, if any (to explain a mismatch)."""
    for spec in DATASETS.values():
        for f in spec.all_files():
            if f.md5 == md5:
                return f"{spec.name} {f.filename}"
    return None
