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

from tinybgn.data.errors import UnknownDatasetError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its name and the MD5 of its decompressed content."""

    filename: str
    md5: str


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

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def all_files(self) -> list[FileSpec]:
        """The files of every split, train first."""
        return [f for split in SPLITS if split in self.files for f in self.files[split]]


def _standard_files(md5s: dict[str, str]) -> dict[str, tuple[FileSpec, FileSpec]]:
    """The four MNIST-style file names, paired with their content MD5s."""
    spec = {name: FileSpec(name, md5) for name, md5 in md5s.items()}
    return {
        "train": (spec["train-images-idx3-ubyte.gz"], spec["train-labels-idx1-ubyte.gz"]),
        "test": (spec["t10k-images-idx3-ubyte.gz"], spec["t10k-labels-idx1-ubyte.gz"]),
    }


MNIST = DatasetSpec(
    name="mnist",
    files=_standard_files(
        {
            "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
        }
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    sizes={"train": 60_000, "test": 10_000},
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    files=_standard_files(
        {
            "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
        }
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
    sizes={"train": 60_000, "test": 10_000},
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


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
    if key == "fashionmnist":
        key = "fashion-mnist"
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
