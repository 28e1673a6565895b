"""The ``tinybgn`` command line.

Each feature module that offers a subcommand exposes ``add_subcommand(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed ``args``; returns an exit code). This file
only gathers them, so a subcommand lives beside the code it drives.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tinybgn import __version__
from tinybgn.errors import TinyBGNError

# Modules that contribute subcommands, in the order ``--help`` lists them.
SUBCOMMAND_MODULES = [
    "tinybgn.train_cli",
    "tinybgn.data.cli",
    "tinybgn.experiments.cli",
    "tinybgn.experiments.report_cli",
    "tinybgn.lessons_cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinybgn",
        description="Backward Gradient Normalization (Cabana & Lago-Fernandez, 2021) "
        "in a from-scratch NumPy engine.",
    )
    parser.add_argument("--version", action="version", version=f"tinybgn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_subcommand(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except TinyBGNError as err:
        print(f"tinybgn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tinybgn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
