"""``tinybgn lessons``: build the course's handouts, check the exercises students implement.

Examples::

    tinybgn lessons build --out handouts       # executed notebooks + an offline HTML site
    TINYBGN_FAST=1 tinybgn lessons build --out handouts --only 01,04
    tinybgn lessons check                      # which of my exercises pass?
    tinybgn lessons check --solutions          # the same checks on the worked solutions

Exit codes: 0 success (every exercise passes), 1 some exercise fails, 2 an error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tinybgn.errors import TinyBGNError


def add_subcommand(subparsers) -> None:
    """Add ``lessons`` (with ``build`` and ``check``) to the ``tinybgn`` command line."""
    p = subparsers.add_parser(
        "lessons",
        help="build the course's notebooks and HTML site; check the exercises",
        description="The course in lessons/: handouts and exercise checks.",
    )
    sub = p.add_subparsers(dest="lessons_command", metavar="ACTION", required=True)

    b = sub.add_parser(
        "build",
        help="execute every lesson into DIR/NN_name.ipynb and an offline HTML site",
        description="Execute every lesson (jupytext + nbclient) into DIR/NN_name.ipynb and "
        "render DIR/index.html and one page per lesson (MathML equations, inline figures). "
        "TINYBGN_FAST=1 runs the lessons at their small sizes. Needs the docs extra.",
    )
    b.add_argument("--out", type=Path, required=True, help="folder to write the handouts to")
    b.add_argument("--lessons", type=Path, default=None, help="lesson folder (default: lessons/)")
    b.add_argument("--only", default=None, help="comma-separated lesson numbers or names")
    b.add_argument("--timeout", type=float, default=900, help="seconds per cell (default 900)")
    b.set_defaults(func=cmd_build)

    c = sub.add_parser(
        "check",
        help="check the exercises in lessons/exercises/ (exit 0 only if all pass)",
        description="Run the ready check of every exercise in lessons/exercises/ and say which "
        "pass, with the error measured and the bound it should be below.",
    )
    c.add_argument("--solutions", action="store_true", help="check the worked solutions instead")
    c.add_argument("--dir", type=Path, default=None, help="exercise folder (lessons/exercises/)")
    c.add_argument("--only", default=None, help="comma-separated exercise names")
    c.set_defaults(func=cmd_check)


def lessons_folder(given: Path | None) -> Path:
    """``given``, else the checkout's ``lessons/``; a TinyBGNError if there is none."""
    from tinybgn.data.locate import project_root

    if given is not None:
        if not given.is_dir():
            raise TinyBGNError(f"{given} is not a folder")
        return given
    root = project_root()
    if root is None or not (root / "lessons").is_dir():
        raise TinyBGNError(
            "no lessons/ folder found: tinybgn is not running from a checkout; pass --lessons"
        )
    return root / "lessons"


def cmd_build(args: argparse.Namespace) -> int:
    from tinybgn.course import FAST
    from tinybgn.handouts import build

    folder = lessons_folder(args.lessons)
    only = args.only.split(",") if args.only else None
    print(f"building handouts of {folder} into {args.out} ({'fast' if FAST else 'teaching'} size)")

    def report(done) -> None:
        print(
            f"  {done.lesson.stem}: {done.seconds:.1f} s, {done.figures} figure(s) -> "
            f"{done.notebook.name}, {done.page.name}",
            flush=True,
        )

    built = build(args.out, folder, only=only, timeout=args.timeout, progress=report)
    print(
        f"wrote {len(built)} notebooks and {len(built) + 1} pages; open {args.out / 'index.html'}"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from tinybgn.exercises import run_checks

    folder = args.dir
    if folder is None:
        folder = lessons_folder(None) / "exercises"
    only = args.only.split(",") if args.only else None
    results = run_checks(folder, solutions=args.solutions, only=only)
    for line in (r.describe() for r in results):
        print(line)
    failed = sum(not r.passed for r in results)
    which = "worked solutions" if args.solutions else "exercises"
    if failed:
        print(f"{failed} of {len(results)} {which} do not pass yet")
        return 1
    print(f"all {len(results)} {which} pass")
    return 0
