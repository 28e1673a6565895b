"""``tinybgn reproduce``: the paper's evidence (figures, Table 1, timings, eps study), one folder.

Examples::

    TINYBGN_DATA=../shared/data/mnist tinybgn reproduce --preset smoke --out runs/smoke
    tinybgn reproduce --preset quick --workers 2 --out docs/results/quick
    tinybgn reproduce --preset quick --dataset fashion-mnist --out runs/quick-fashion

Every preset size is also a flag (``--epochs``, ``--depths 30 60``, ``--lr-count`` ...); flags
override the preset and change the job ids, so a changed protocol never reuses old runs.
Rerunning a ``reproduce`` command resumes it: finished runs are read back from
``<out>/runs.jsonl``. Exit codes: 0 success, 2 an error (bad option, missing data, failed jobs).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from tinybgn.experiments.presets import ACTIVATIONS, PRESETS, get_preset


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def add_subcommand(subparsers) -> None:
    """Add ``reproduce`` to the ``tinybgn`` command line."""
    r = subparsers.add_parser(
        "reproduce",
        help="regenerate Figures 1-3, Table 1, timings and the eps study into one folder",
        description=(__doc__ or "").split("\n\n")[0],
    )
    r.add_argument("--preset", choices=sorted(PRESETS), default="smoke")
    r.add_argument("--out", type=Path, default=None, help="output folder (runs/<preset>-<data>)")
    r.add_argument("--dataset", default=None, help="mnist (default) or fashion-mnist")
    r.add_argument("--data-dir", type=Path, default=None, help="folder searched first")
    _common_options(r)
    sizes = r.add_argument_group("sizes (override the preset)")
    sizes.add_argument("--n-train", type=_positive_int)
    sizes.add_argument("--n-test", type=_positive_int)
    sizes.add_argument("--n-val", type=int, help="validation examples set aside from train")
    sizes.add_argument("--selection", choices=("validation", "paper"))
    sizes.add_argument("--epochs", type=_positive_int)
    sizes.add_argument("--batch-size", type=_positive_int)
    sizes.add_argument("--width", type=_positive_int)
    sizes.add_argument("--depths", type=_positive_int, nargs="+")
    sizes.add_argument("--activations", choices=ACTIVATIONS, nargs="+")
    sizes.add_argument("--lr-count", type=_positive_int)
    sizes.add_argument("--lr-min", type=_positive_float)
    sizes.add_argument("--lr-max", type=_positive_float)
    sizes.add_argument("--search-runs", type=_positive_int)
    sizes.add_argument("--final-runs", type=int)
    sizes.add_argument("--figure-depth", type=_positive_int)
    sizes.add_argument("--probe-batch", type=_positive_int)
    sizes.add_argument("--eps-values", type=_positive_float, nargs="+")
    sizes.add_argument("--eps-activations", choices=ACTIVATIONS, nargs="+")
    sizes.add_argument("--eps-depth", type=_positive_int)
    sizes.add_argument("--eps-lr", type=_positive_float)
    sizes.add_argument("--eps-seeds", type=int)
    sizes.add_argument("--eps-epochs", type=_positive_int)
    r.set_defaults(func=cmd_reproduce)

    s = subparsers.add_parser(
        "sweep",
        help="run every combination of a TOML grid of run specs (resumable)",
        description="Run (or resume) the runs of a TOML grid: scalar keys are fixed, list keys "
        "are grid axes; see tinybgn.experiments.sweep. GRID is a file or the name of a grid "
        "shipped in the package (e.g. standard, mechanism-optimizers).",
    )
    s.add_argument("grid", help="GRID.toml")
    s.add_argument("--out", type=Path, required=True, help="output folder (runs, report)")
    s.add_argument("--data-dir", type=Path, default=None, help="folder searched first")
    _common_options(s)
    s.set_defaults(func=cmd_sweep)


def _common_options(p) -> None:
    p.add_argument("--workers", type=_positive_int, default=2, help="local processes (2)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("--no-download", action="store_true", help="never download missing data")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the number of runs and their projected wall time; train nothing",
    )


SIZE_FIELDS = (
    "n_train n_test epochs batch_size width depths activations lr_count lr_min lr_max "
    "search_runs final_runs figure_depth probe_batch eps_values eps_activations eps_depth "
    "eps_lr eps_seeds eps_epochs dataset n_val selection"
).split()


def cmd_reproduce(args: argparse.Namespace) -> int:
    from tinybgn.experiments.report import dry_run, reproduce

    changes = {}
    for name in SIZE_FIELDS:
        value = getattr(args, name, None)
        changes[name] = tuple(value) if isinstance(value, list) else value
    try:
        preset = get_preset(args.preset).replace(**changes).validate()
    except ValueError as err:
        print(f"tinybgn reproduce: error: {err}", file=sys.stderr)
        return 2
    download = not args.no_download
    out = args.out or Path("runs") / f"{preset.name}-{preset.dataset}"
    if args.dry_run:
        dry_run(
            preset, data_dir=args.data_dir, download=download, workers=args.workers, out_dir=out
        )
        return 0
    result = reproduce(
        preset,
        out,
        data_dir=args.data_dir,
        download=download,
        workers=args.workers,
        quiet=args.quiet,
    )
    if not args.quiet:
        print((Path(result["out_dir"]) / "table1.md").read_text())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from tinybgn.experiments.sweep import load_grid, run_grid

    grid = load_grid(args.grid)  # SpecError (a TinyBGNError): exit 2 with the message
    run_grid(
        grid,
        args.out,
        data_dir=args.data_dir,
        download=not args.no_download,
        workers=args.workers,
        quiet=args.quiet,
        dry_run=args.dry_run,
    )
    return 0
