"""``tinybgn data download|verify|info|show``: fetch, check, describe and look at datasets.

Every subcommand takes ``--data-dir`` (searched first, and where downloads go); without it the
usual search path applies (``TINYBGN_DATA``, the project's data/ folder or ~/.cache/tinybgn,
/usr/share/datasets). Exit codes: 0 success, 1 a verification failed, 2 an error (missing data,
failed download...), reported on stderr by :mod:`tinybgn.cli`.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np

from tinybgn.data.checksum import read_verified
from tinybgn.data.download import DEFAULT_DEADLINE, MIRRORS_ENV, download_dataset
from tinybgn.data.errors import ChecksumError, DataNotFoundError, IDXFormatError
from tinybgn.data.load import read_split
from tinybgn.data.locate import candidate_dirs, find_dataset, search_roots
from tinybgn.data.registry import DATASETS, SPLITS, get_spec
from tinybgn.files import atomic_write

MAX_SHOW = 100  # images in one `data show` grid; matplotlib needs about 3 s for 100


def _number(kind, low, high=None, *, exclusive: bool = False):
    """An argparse ``type`` accepting ``kind`` values in [low, high] (or (low, high])."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        too_low = value <= low if exclusive else value < low
        if too_low or (high is not None and value > high) or value != value:
            bound = f"> {low}" if exclusive else f">= {low}"
            upper = f" and <= {high}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"must be {bound}{upper}, got {text}")
        return value

    return parse


def _image_file(text: str) -> Path:
    """``-o`` of ``data show``: a file in an existing, writable folder, in a format matplotlib
    writes (checked before any work is done)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    from matplotlib.figure import Figure

    path = Path(text)
    formats = Figure().canvas.get_supported_filetypes()
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in formats:
        raise argparse.ArgumentTypeError(
            f"{text}: unknown image format {suffix!r}; use one of {', '.join(sorted(formats))}"
        )
    folder = path.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(
            f"{text}: folder {folder} does not exist or is not writable"
        )
    return path


def add_subcommand(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` command and its four subcommands to the ``tinybgn`` parser."""
    parser = subparsers.add_parser(
        "data",
        help="download, verify, describe and show datasets (MNIST, Fashion-MNIST)",
        description="Fetch, verify, describe and look at datasets. Data is looked for in "
        "--data-dir, then $TINYBGN_DATA, then the project's data/ folder (or ~/.cache/tinybgn "
        "for an installed package), then /usr/share/datasets; each may hold the files directly "
        "or in a <name>/ subfolder.",
    )
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    names = sorted(DATASETS)
    downloadable = sorted(n for n, spec in DATASETS.items() if spec.location is None)

    def common(p: argparse.ArgumentParser, name_optional: bool, choices=names) -> None:
        if name_optional:
            p.add_argument("name", nargs="?", choices=choices, help="dataset (default: all)")
        else:
            p.add_argument("name", choices=choices, help="dataset")
        p.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="folder searched first (and where downloads go)",
        )

    p = sub.add_parser(
        "download",
        help="fetch a dataset's files, verified, into the cache",
        description=f"Fetch a dataset's files, verified, from ${MIRRORS_ENV} (comma-separated "
        "URL prefixes, tried first) and then the registry's mirrors.",
    )
    common(p, name_optional=False, choices=downloadable)
    p.add_argument(
        "--split",
        action="append",
        choices=SPLITS,
        dest="splits",
        help="only this split (repeatable; default: all)",
    )
    p.add_argument(
        "--mirror",
        action="append",
        dest="mirrors",
        metavar="URL",
        help=f"URL prefix to download from instead of ${MIRRORS_ENV} and the registry's "
        "(repeatable)",
    )
    positive = _number(float, 0, exclusive=True)
    p.add_argument(
        "--timeout", type=positive, default=30.0, help="seconds to wait for a server (default 30)"
    )
    p.add_argument(
        "--deadline",
        type=positive,
        default=DEFAULT_DEADLINE,
        help=f"seconds one file's transfer may take in all (default {DEFAULT_DEADLINE:g})",
    )
    p.add_argument(
        "--retries", type=_number(int, 1), default=3, help="attempts per mirror (default 3)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace files with a bad checksum (kept as <file>.bad)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or messages")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("verify", help="check the content checksums of the files found")
    common(p, name_optional=True)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("info", help="where the data is, example counts and class balance")
    common(p, name_optional=True)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("show", help="save a PNG grid of sample images with their labels")
    common(p, name_optional=False)
    p.add_argument(
        "--split", choices=SPLITS, default=None, help="split to sample (default: test if present)"
    )
    p.add_argument(
        "-n",
        "--count",
        type=_number(int, 1, MAX_SHOW),
        default=36,
        help=f"number of images, at most {MAX_SHOW} (default 36)",
    )
    p.add_argument("--seed", type=_number(int, 0), default=0, help="which samples (default 0)")
    p.add_argument(
        "-o",
        "--output",
        type=_image_file,
        default=None,
        help="image file, e.g. .png or .pdf (default: <name>-<split>-samples.png)",
    )
    p.set_defaults(func=cmd_show)
    return parser


def cmd_download(args) -> int:
    log = None if args.quiet else print
    directory = download_dataset(
        args.name,
        args.data_dir,
        splits=args.splits,
        mirrors=args.mirrors,
        force=args.force,
        timeout=args.timeout,
        deadline=args.deadline,
        retries=args.retries,
        progress=False if args.quiet else None,
        log=log,
    )
    if log:
        print(f"{args.name}: ready in {directory}")
    return 0


def cmd_verify(args) -> int:
    failed = False
    for name in [args.name] if args.name else sorted(DATASETS):
        try:
            located = find_dataset(name, args.data_dir)
        except DataNotFoundError:
            if args.name:
                raise
            print(f"{name}: not found")
            continue
        spec = located.spec
        print(f"{name}: {located.directory} [{located.origin}]")
        for split in located.splits:
            for path, file_spec in zip(located.paths[split], spec.files[split], strict=True):
                try:
                    read_verified(path, file_spec)
                    print(f"  OK   {path.name}  md5 {file_spec.md5}")
                except (ChecksumError, IDXFormatError) as err:
                    failed = True
                    print(f"  BAD  {path.name}: {err}")
        for split in sorted(set(spec.files) - set(located.splits)):
            print(f"  --   {split} split not present")
    return 1 if failed else 0


def cmd_info(args) -> int:
    if args.name is None:
        print("Search path (first match wins; each root may hold <name>/ subfolders):")
        for root in search_roots(args.data_dir):
            print(f"  {root.path}  [{root.origin}]")
        for name in sorted(DATASETS):
            try:
                located = find_dataset(name, args.data_dir)
                where = f"{located.directory} ({', '.join(located.splits)})"
            except DataNotFoundError:
                where = "not found"
            print(f"{name}: {where}")
        return 0
    spec = get_spec(args.name)
    located = find_dataset(spec, args.data_dir)
    print(f"{spec.name}: {located.directory} [{located.origin}]")
    print(f"  images {'x'.join(map(str, spec.image_shape))}, {spec.n_classes} classes")
    if not args.data_dir:
        print(f"  searched: {', '.join(str(d) for d, _ in candidate_dirs(spec)[:2])}, ...")
    for split in SPLITS:
        if split not in located.paths:
            print(f"  {split}: not present")
            continue
        _, labels = read_split(spec, split, located=located)
        counts = np.bincount(labels, minlength=spec.n_classes)
        print(f"  {split}: {len(labels)} examples (verified); class balance:")
        for k, (cls, n) in enumerate(zip(spec.class_names, counts, strict=True)):
            print(f"    {k} {cls:<12} {n:6d}  {100 * n / len(labels):5.1f}%")
    return 0


def cmd_show(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    spec = get_spec(args.name)
    located = find_dataset(spec, args.data_dir)
    split = args.split or ("test" if "test" in located.paths else located.splits[0])
    output = args.output or Path(f"{spec.name}-{split}-samples.png")
    images, labels = read_split(spec, split, located=located)
    count = min(args.count, len(labels))
    pick = np.sort(np.random.default_rng(args.seed).choice(len(labels), count, replace=False))
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, pick, strict=False):
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
        k = int(labels[i])
        name = spec.class_names[k]
        ax.set_title(str(k) if name == str(k) else f"{k}: {name}", fontsize=8)
    fig.suptitle(
        f"{spec.name}, {split} split: {count} random images (seed {args.seed})", fontsize=9
    )
    fig.tight_layout()
    with atomic_write(output, fsync=False) as f:
        fig.savefig(f, dpi=100, format=output.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    print(f"saved {count} {spec.name} {split} images with their labels to {output}")
    return 0
