"""Finding and loading datasets, on a tiny synthetic dataset registered for the tests.

The tiny dataset has the same structure as MNIST (train and test splits, IDX images and labels,
content MD5s in a registry entry) with 3 classes of 4x4 images, so every path through
``locate`` and ``load_dataset`` runs in milliseconds. The search path is isolated: the project
folder, the user cache and /usr/share/datasets are replaced by folders under tmp_path.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from tinybgn.data import (
    CarvedSplitWarning,
    ChecksumError,
    DataDirError,
    DataIntegrityError,
    DataNotFoundError,
    Dataset,
    DatasetSpec,
    FileSpec,
    IDXFormatError,
    SplitError,
    UnknownDatasetError,
    find_dataset,
    get_spec,
    load_dataset,
    register_dataset,
    write_idx,
)
from tinybgn.data import locate as locate_module
from tinybgn.data.checksum import md5_hex
from tinybgn.data.idx import idx_bytes
from tinybgn.data.locate import ENV_VAR, SearchRoot, download_dir, search_roots
from tinybgn.data.registry import unregister_dataset
from tinybgn.errors import TinyBGNError

NAME = "tiny-test"
SIZES = {"train": 60, "test": 30}
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def make_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 4x4 uint8 images and balanced labels 0, 1, 2 (pixel [0, 0] encodes the index)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 4, 4), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n) % 256
    labels = (np.arange(n) % 3).astype(np.uint8)
    return images, labels


ARRAYS = {split: make_split(n, seed) for seed, (split, n) in enumerate(SIZES.items())}


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Register the tiny dataset and isolate the search path; yields the spec."""
    files = {
        split: tuple(
            FileSpec(name, md5_hex(idx_bytes(array)))
            for name, array in zip(FILES[split], ARRAYS[split], strict=True)
        )
        for split in SIZES
    }
    spec = register_dataset(
        DatasetSpec(
            NAME, files, mirrors=(), image_shape=(4, 4), class_names=("a", "b", "c"), sizes=SIZES
        )
    )
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(
        locate_module,
        "default_root",
        lambda: SearchRoot(tmp_path / "default", "project data/ folder"),
    )
    monkeypatch.setattr(locate_module, "SYSTEM_ROOTS", (tmp_path / "system",))
    yield spec
    unregister_dataset(NAME)


def put(directory: Path, splits=("train", "test"), compress=True) -> Path:
    """Write the tiny dataset's files for ``splits`` into ``directory``; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for split in splits:
        for name, array in zip(FILES[split], ARRAYS[split], strict=True):
            write_idx(directory / (name if compress else name.removesuffix(".gz")), array)
    return directory


# --- where data is looked for ----------------------------------------------------------------


def test_missing_data_lists_every_place_searched_and_how_to_get_it(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(DataNotFoundError) as info:
        load_dataset(NAME, tmp_path / "arg")
    message = str(info.value)
    for folder in ("arg", "env", "default", "system"):
        assert str(tmp_path / folder / NAME) in message and str(tmp_path / folder) in message
    assert f"tinybgn data download {NAME}" in message and "download=True" in message
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, TinyBGNError)
    assert message.index("arg") < message.index("env") < message.index("default")


def test_search_order_is_argument_then_env_then_default_then_system(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    roots = [r.origin for r in search_roots(tmp_path / "arg")]
    assert roots == ["data_dir argument", ENV_VAR, "project data/ folder", "system datasets"]
    put(tmp_path / "system" / NAME)
    assert find_dataset(NAME).origin == "system datasets"
    put(tmp_path / "default" / NAME)
    assert find_dataset(NAME).origin == "project data/ folder"
    put(tmp_path / "env" / NAME)
    assert find_dataset(NAME).origin == ENV_VAR
    put(tmp_path / "arg" / NAME)
    assert find_dataset(NAME, tmp_path / "arg").directory == tmp_path / "arg" / NAME


def test_files_sit_in_the_dataset_own_folder_and_may_be_uncompressed(tiny, tmp_path):
    put(tmp_path / "root" / NAME, compress=False)  # root/<name>/
    located = find_dataset(NAME, tmp_path / "root")
    assert located.directory == tmp_path / "root" / NAME
    assert located.paths["test"][0].name == "t10k-images-idx3-ubyte"
    # the root may itself be the dataset's folder (case and _/- do not matter)
    put(tmp_path / NAME.upper().replace("-", "_"))
    assert find_dataset(NAME, tmp_path / "TINY_TEST").directory == tmp_path / "TINY_TEST"
    assert load_dataset(NAME, tmp_path / "root").info["split"] == "standard"


def test_files_directly_in_a_folder_named_otherwise_are_not_taken_but_pointed_out(tiny, tmp_path):
    """A dataset's files are looked for in its own folder only (MNIST and Fashion-MNIST share
    file names); the error says where similar files lie and where they belong."""
    put(tmp_path / "elsewhere")
    with pytest.raises(DataNotFoundError) as info:
        find_dataset(NAME, tmp_path / "elsewhere")
    assert f"move them into {tmp_path / 'elsewhere' / NAME}" in str(info.value)


def test_a_data_dir_or_tinybgn_data_that_is_a_file_is_an_error(tiny, tmp_path, monkeypatch):
    """Regression: a file given as --data-dir was skipped, and downloads went to data/."""
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for call in (lambda: download_dir(NAME, afile), lambda: load_dataset(NAME, afile)):
        with pytest.raises(DataDirError, match="is a file, not a folder") as info:
            call()
        assert isinstance(info.value, NotADirectoryError)
    monkeypatch.setenv(ENV_VAR, str(afile))
    with pytest.raises(DataDirError, match="TINYBGN_DATA is .*afile, which is a file"):
        find_dataset(NAME)


def test_incomplete_split_is_skipped_and_reported(tiny, tmp_path):
    folder = put(tmp_path / "arg" / NAME)
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="incomplete: only train-images"):
        find_dataset(NAME, tmp_path / "arg")


def test_project_root_is_the_checkout_holding_setup_cfg():
    root = locate_module.project_root()
    here = Path(__file__).resolve().parents[1]
    if (here / "setup.cfg").is_file():
        assert root == here
        assert locate_module.default_root().path == here / "data"


def test_user_cache_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert locate_module.user_cache_dir() == tmp_path / "tinybgn"


def test_downloads_go_to_first_writable_root_in_a_name_subfolder(tiny, tmp_path, monkeypatch):
    assert download_dir(NAME, tmp_path / "arg") == tmp_path / "arg" / NAME
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert download_dir(NAME) == tmp_path / "env" / NAME
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "data" / NAME))  # already named after it
    assert download_dir(NAME) == tmp_path / "data" / NAME
    if os.geteuid() != 0:  # root may write anywhere
        readonly = tmp_path / "ro"
        readonly.mkdir(mode=0o500)
        assert download_dir(NAME, readonly) == tmp_path / "data" / NAME


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownDatasetError, match="fashion-mnist, mnist"):
        load_dataset("cifar10")
    assert get_spec("Fashion_MNIST").name == get_spec("fashionmnist").name == "fashion-mnist"


# --- what comes back ----------------------------------------------------------------------


def test_standard_split_types_ranges_and_keras_unpacking(tiny, tmp_path):
    put(tmp_path / NAME)
    ds = load_dataset(NAME, tmp_path)
    (x_train, y_train), (x_test, y_test) = ds
    assert x_train.shape == (60, 16) and x_test.shape == (30, 16)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_array_equal(x_train * 255, ARRAYS["train"][0].reshape(60, 16))
    np.testing.assert_array_equal(y_test, ARRAYS["test"][1])
    assert ds.x_val is None and ds.y_val is None
    assert ds.info["split"] == "standard" and ds.info["directory"] == str(tmp_path / NAME)
    assert set(ds.info["files"]) == {f for pair in FILES.values() for f in pair}
    json.dumps(ds.info)
    assert "(60, 16) float32" in repr(ds)


def test_unflattened_images_keep_their_shape(tiny, tmp_path):
    put(tmp_path / NAME)
    assert load_dataset(NAME, tmp_path, flatten=False).x_train.shape == (60, 4, 4)


def test_one_split_present_auto_carves_with_a_visible_warning(tiny, tmp_path):
    put(tmp_path / NAME, splits=("test",))
    with pytest.warns(CarvedSplitWarning, match="only the test split"):
        ds = load_dataset(NAME, tmp_path)
    assert ds.info["split"] == "carved from t10k: 24 train / 6 test (seed 0)"
    assert ds.info["splits_present"] == ["test"]
    assert set(ds.info["files"]) == set(FILES["test"])
    # train and test are disjoint and together are the whole test split (pixel [0] = index)
    ids = np.concatenate([ds.x_train[:, 0], ds.x_test[:, 0]]) * 255
    np.testing.assert_array_equal(np.sort(ids), np.arange(30))
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2]  # stratified


def test_explicit_carve_is_silent_and_takes_a_size(tiny, tmp_path):
    put(tmp_path / NAME)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(NAME, tmp_path, split="carve", test_size=15)
    assert ds.info["split"] == "carved from train: 45 train / 15 test (seed 0)"


def test_standard_split_requires_both_splits(tiny, tmp_path):
    put(tmp_path / NAME, splits=("test",))
    with pytest.raises(DataNotFoundError, match="has only test.*split='carve'"):
        load_dataset(NAME, tmp_path, split="standard")


def test_same_seed_same_split_other_seed_other_split(tiny, tmp_path):
    put(tmp_path / NAME)
    a = load_dataset(NAME, tmp_path, split="carve", seed=1)
    b = load_dataset(NAME, tmp_path, split="carve", seed=1)
    c = load_dataset(NAME, tmp_path, split="carve", seed=2)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_test, c.x_test)


def test_validation_split_and_subsets_are_stratified_and_recorded(tiny, tmp_path):
    put(tmp_path / NAME)
    ds = load_dataset(NAME, tmp_path, val_size=0.2, n_train=30, n_test=9)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (30, 12, 9)
    for y in (ds.y_train, ds.y_val, ds.y_test):
        counts = np.bincount(y, minlength=3)
        assert counts.max() - counts.min() <= 1, counts
    train_ids, val_ids = ds.x_train[:, 0] * 255, ds.x_val[:, 0] * 255
    assert not set(train_ids) & set(val_ids)
    assert ds.info["n_val"] == 12 and "12 examples" in ds.info["validation"]
    assert ds.info["subsets"] == "train: 30 of 48, test: 9 of 30 (stratified, seed 0)"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_train": 61},
        {"n_test": 31},
        {"val_size": 1.5},
        {"split": "carve", "test_size": 60},
        {"split": "carve", "test_size": 0.001},
    ],
)
def test_asking_for_too_many_examples_says_how_many_exist(tiny, tmp_path, kwargs):
    put(tmp_path / NAME)
    with pytest.raises(SplitError, match="at most|fraction|between 1 and"):
        load_dataset(NAME, tmp_path, **kwargs)


def test_pixel_permutation_is_fixed_by_the_seed_and_invertible(tiny, tmp_path):
    put(tmp_path / NAME)
    plain = load_dataset(NAME, tmp_path)
    a = load_dataset(NAME, tmp_path, permute_pixels=True, seed=3)
    b = load_dataset(NAME, tmp_path, permute_pixels=True, seed=3, n_train=6)
    np.testing.assert_array_equal(a.permutation, b.permutation)
    assert not np.array_equal(a.permutation, np.arange(16))
    np.testing.assert_array_equal(a.x_test, plain.x_test[:, a.permutation])
    np.testing.assert_array_equal(a.x_train[:, np.argsort(a.permutation)], plain.x_train)
    assert a.info["permute_pixels"] is True and plain.permutation is None


# --- bad files: clear errors, nothing loaded, nothing changed -----------------------------------


def test_checksum_mismatch_is_not_loaded_and_file_untouched(tiny, tmp_path):
    folder = put(tmp_path / NAME)
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    labels = ARRAYS["test"][1].copy()
    labels[0] = 2
    write_idx(bad, labels)
    before = bad.read_bytes()
    with pytest.raises(ChecksumError, match="t10k-labels.*checksum mismatch.*not loaded"):
        load_dataset(NAME, tmp_path)
    assert bad.read_bytes() == before


def test_a_file_of_another_dataset_is_named_in_the_checksum_error(tiny, tmp_path):
    folder = put(tmp_path / NAME)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", ARRAYS["train"][1])
    with pytest.raises(ChecksumError, match=f"content of {NAME} train-labels"):
        load_dataset(NAME, tmp_path)


def test_truncated_gzip_in_the_cache_is_an_idx_format_error(tiny, tmp_path):
    folder = put(tmp_path / NAME)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(IDXFormatError, match="truncated gzip.*download it again"):
        load_dataset(NAME, tmp_path)


def _register_variant(tiny: DatasetSpec, tmp_path: Path, images, labels) -> None:
    """Replace the tiny dataset's test files by these arrays, with matching checksums."""
    folder = tmp_path / NAME
    put(folder, splits=("train",))
    files = dict(tiny.files)
    files["test"] = (
        FileSpec(FILES["test"][0], md5_hex(idx_bytes(images))),
        FileSpec(FILES["test"][1], md5_hex(idx_bytes(labels))),
    )
    register_dataset(DatasetSpec(NAME, files, (), (4, 4), tiny.class_names), replace=True)
    write_idx(folder / FILES["test"][0], images)
    write_idx(folder / FILES["test"][1], labels)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda x, y: (x, y[:-1]), "30 images but 29 labels"),
        (
            lambda x, y: (x, np.where(np.arange(len(y)) == 7, 9, y).astype(np.uint8)),
            "1 labels outside \\[0, 3\\), the first is 9 at index 7",
        ),
        (lambda x, y: (x[:, :3, :], y), "images should be uint8 of shape \\('N', 4, 4\\)"),
        (lambda x, y: (x.astype(np.float32), y), "got float32"),
        (lambda x, y: (x, y.reshape(-1, 1)), "labels should be a 1-D integer array"),
    ],
)
def test_files_that_do_not_make_a_labelled_split_give_data_integrity_error(
    tiny, tmp_path, change, reason
):
    _register_variant(tiny, tmp_path, *change(*ARRAYS["test"]))
    with pytest.raises(DataIntegrityError, match=reason):
        load_dataset(NAME, tmp_path)


def test_dataset_is_a_plain_dataclass_with_val_defaults():
    x, y = np.zeros((2, 3), np.float32), np.zeros(2, np.int64)
    ds = Dataset(x, y, x, y)
    assert ds.x_val is None and ds.info == {}
    (a, b), (c, d) = ds
    assert a is x and d is y


def test_public_names_other_code_relies_on():
    import inspect
    import types

    import tinybgn.data as data

    for name in ("read_idx", "write_idx", "load_dataset", "load_mnist", "batches"):
        assert callable(getattr(data, name)), name
    params = inspect.signature(data.load_dataset).parameters
    assert list(params)[:2] == ["name", "data_dir"] and params["download"].default is True
    assert params["fallback"].default is None
    assert params["split"].default == "auto" and params["val_size"].default == 0
    # submodules stay reachable (only `batches`, by design, is the function, not its module)
    for module in ("idx", "registry", "locate", "download", "load"):
        assert isinstance(getattr(data, module), types.ModuleType), module
