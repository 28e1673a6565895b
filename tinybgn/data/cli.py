"""``tinybgn data download|verify|info|show``: fetch, check, describe and look at datasets.

Every subcommand takes ``--data-dir`` (searched first, and where downloads go); without it the
usual search path applies (``TINYBGN_DATA``, the project's data/ folder or ~/.cache/tinybgn,
/usr/share/datasets). Exit codes: 0 success, 1 a verification failed, 2 an error (missing data,
failed download...), reported on stderr by :mod:`tinybgn.cli`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from tinybgn.data.checksum import read_verified
from tinybgn.data.download import download_dataset
from tinybgn.data.errors import ChecksumError, DataNotFoundError, IDXFormatError
from tinybgn.data.load import read_split
from tinybgn.data.locate import candidate_dirs, find_dataset, search_roots
from tinybgn.data.registry import DATASETS, SPLITS, get_spec


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

    def common(p: argparse.ArgumentParser, name_optional: bool) -> None:
        if name_optional:
            p.add_argument("name", nargs="?", choices=names, help="dataset (default: all)")
        else:
            p.add_argument("name", choices=names, help="dataset")
        p.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="folder searched first (and where downloads go)",
        )

    p = sub.add_parser("download", help="fetch a dataset's files, verified, into the cache")
    common(p, name_optional=False)
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
        help="URL prefix to download from instead of the registry's (repeatable)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    p.add_argument("--retries", type=int, default=3, help="attempts per mirror (default 3)")
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
    p.add_argument("-n", "--count", type=int, default=36, help="number of images (default 36)")
    p.add_argument("--seed", type=int, default=0, help="which samples (default 0)")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="PNG file (default: <name>-<split>-samples.png)",
    )
    p.set_defaults(func=cmd_show)
    return parser


def cmd_download(args) -> int:
    log = None if args.quiet else print
    directory = download_dataset(
        args.name,
        args.data_dir,
        splits=args.splits or SPLITS,
        mirrors=args.mirrors,
        force=args.force,
        timeout=args.timeout,
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
                    read_verified(path, file_spec.md5)
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
    images, labels = read_split(spec, split, located=located)
    count = max(1, min(args.count, len(labels)))
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
    output = args.output or Path(f"{spec.name}-{split}-samples.png")
    fig.savefig(output, dpi=100)
    plt.close(fig)
    print(f"saved {count} {spec.name} {split} images with their labels to {output}")
    return 0
