"""Errors and warnings raised by :mod:`tinybgn.data`.

Every error derives from :class:`tinybgn.errors.TinyBGNError` (``except TinyBGNError`` catches
them all) *and* from the built-in class that fits, so code written against the standard library
keeps working: a missing dataset is a ``FileNotFoundError``, a corrupt file a ``ValueError``.

Each class says when it is raised and what to do about it; the messages repeat the advice with
the concrete paths and names filled in.
"""

from __future__ import annotations

from tinybgn.errors import TinyBGNError


class DataError(TinyBGNError):
    """Base class of every error raised by :mod:`tinybgn.data`."""


class UnknownDatasetError(DataError, ValueError):
    """The dataset name is not in the registry.

    Raised by ``load_dataset``, ``download`` and the ``tinybgn data`` command. What to do: use one
    of the names listed in the message (``mnist``, ``fashion-mnist``), or describe your own
    IDX dataset with :class:`tinybgn.data.registry.DatasetSpec` and ``register_dataset``.
    """


class DataNotFoundError(DataError, FileNotFoundError):
    """No searched directory holds the dataset's files.

    Raised by ``load_dataset`` with ``download=False`` (with downloads on, a dataset that
    cannot be fetched raises :class:`DownloadError`) and by ``tinybgn data verify|info|show``;
    the message lists every directory searched, in order. Also raised by
    ``load_dataset(split="standard")`` when the folder found holds only one of the two splits.
    What to do: run ``tinybgn data download <name>``, allow ``download=True``, or point
    ``data_dir=`` / ``TINYBGN_DATA`` at a folder that holds the files.
    """


class ChecksumError(DataError, ValueError):
    """A file's decompressed content does not have the registered MD5.

    Raised when loading or verifying a file that is truncated, corrupted, or belongs to another
    dataset (MNIST and Fashion-MNIST use the same file names). The bad file is never loaded and
    never overwritten silently. What to do: delete (or move) the file named in the message and
    download again, or run ``tinybgn data download <name> --force``, which keeps the bad file as
    ``<file>.bad`` before fetching a fresh copy.
    """


class IDXFormatError(DataError, ValueError):
    """A file is not a well-formed IDX file (or a gzip-compressed one).

    Raised by :func:`tinybgn.data.read_idx` for a truncated or corrupt gzip stream, a wrong magic
    number, an unknown element type, or header dimensions that disagree with the payload size;
    and by :func:`tinybgn.data.write_idx` for an array whose dtype IDX cannot store. What to do:
    re-download the file (it is damaged or not IDX), or convert the array with ``astype``.
    """


class ContentSizeError(IDXFormatError):
    """A file's content is larger than the dataset's registry says it can be.

    Raised while decompressing, as soon as the bound is passed, so a small archive that expands
    to gigabytes (a "gzip bomb") or a wrong file never fills the memory. What to do: delete the
    file and download it again.
    """


class DataIntegrityError(DataError, ValueError):
    """Well-formed IDX files that do not make a labelled dataset together.

    Raised when the images and labels of a split have different counts, images have the wrong
    shape or dtype, or labels fall outside ``[0, n_classes)``. Registered datasets are protected
    by their checksums, so this mostly concerns files you registered yourself. What to do: check
    that the two files belong to the same split of the same dataset.
    """


class SplitError(DataError, ValueError):
    """The requested split, subset or validation size cannot be made from the available data.

    Raised by ``load_dataset`` for e.g. ``n_train`` larger than the examples available, a
    fraction outside [0, 1], or a carved ``test_size`` that leaves one side empty. The message
    says how many examples there are; ask for fewer.
    """


class DownloadError(DataError, OSError):
    """Every mirror failed for a file (unreachable, HTTP error, interrupted, or bad checksum).

    Raised by :func:`tinybgn.data.download_dataset`; the message lists each mirror and why it
    failed. Nothing is left under the final file name. What to do: check the network (or a proxy via
    ``https_proxy``), pass other ``mirrors=``, or download the files by hand into the directory
    named in the message.
    """


class DataDirError(DataError, NotADirectoryError):
    """A data folder given by ``data_dir=`` / ``--data-dir`` or ``TINYBGN_DATA`` is not a folder.

    Raised instead of silently using (or downloading into) another folder. What to do: pass the
    folder that holds (or should hold) the dataset files, not a file.
    """


class CarvedSplitWarning(UserWarning):
    """Train and test were carved out of one labelled split, not the dataset's standard split.

    Emitted by ``load_dataset(split="auto")`` when only one labelled split is present (e.g. only
    MNIST's 10k test set). Results are then not comparable with published numbers; the carved
    split is recorded in ``Dataset.info["split"]`` so reports can say so. Silence it by asking
    for ``split="carve"`` explicitly.
    """


class EmbeddedSampleWarning(UserWarning):
    """The embedded sample of real MNIST test digits is used instead of the full dataset.

    Emitted by ``load_dataset("mnist", fallback="sample")`` when MNIST is neither found nor
    downloadable (or ``download=False``); the message says why. Results on a few thousand
    digits are not comparable with published numbers; ``Dataset.info["source"]`` names the
    sample so reports say so. Get the full dataset with ``tinybgn data download mnist``.
    """
