"""``tinybgn train`` (one network) and ``tinybgn reproduce`` (the paper's evidence, one folder).

Examples::

    tinybgn train --activation relu --depth 90 --bgn --epochs 5 --lr 1e-3
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
import json
import sys
from pathlib import Path

from tinybgn.experiments.presets import ACTIVATIONS, PRESETS, get_preset
from tinybgn.train import DEFAULT_BATCH_SIZE


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_subcommand(subparsers) -> None:
    """Add ``train`` and ``reproduce`` to the ``tinybgn`` command line."""
    p = subparsers.add_parser(
        "train",
        help="train one network of the paper's family and print its history",
        description="Train one MLP with Adam; evaluate on the test set after every epoch.",
    )
    p.add_argument("--dataset", default="mnist", help="mnist (default) or fashion-mnist")
    p.add_argument("--data-dir", type=Path, default=None, help="folder searched first")
    p.add_argument("--n-train", type=_positive_int, default=None, help="training subset size")
    p.add_argument("--n-test", type=_positive_int, default=None, help="test subset size")
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    p.add_argument("--depth", type=_positive_int, default=90, help="hidden layers (default 90)")
    p.add_argument("--width", type=_positive_int, default=64, help="units per layer (64)")
    p.add_argument("--bn", action="store_true", help="BatchNorm before every activation")
    p.add_argument("--bgn", action="store_true", help="BGN before every activation")
    p.add_argument("--epochs", type=_positive_int, default=20)
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help="mini-batch size (default 32, Keras's; the paper does not state it)",
    )
    p.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate")
    p.add_argument("--eps", type=_positive_float, default=1e-7, help="Adam eps (Keras: 1e-7)")
    p.add_argument("--seed", type=int, default=0, help="weights and batch order")
    p.add_argument("--checkpoint", type=Path, default=None, help="save after every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--history", type=Path, default=None, help="write the history as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train)

    r = subparsers.add_parser(
        "reproduce",
        help="regenerate Figures 1-3, Table 1, timings and the eps study into one folder",
        description=(__doc__ or "").split("\n\n")[0],
    )
    r.add_argument("--preset", choices=sorted(PRESETS), default="smoke")
    r.add_argument("--out", type=Path, default=None, help="output folder (runs/<preset>-<data>)")
    r.add_argument("--dataset", default=None, help="mnist (default) or fashion-mnist")
    r.add_argument("--data-dir", type=Path, default=None, help="folder searched first")
    r.add_argument("--workers", type=_positive_int, default=2, help="local processes (2)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    sizes = r.add_argument_group("sizes (override the preset)")
    sizes.add_argument("--n-train", type=_positive_int)
    sizes.add_argument("--n-test", type=_positive_int)
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


SIZE_FIELDS = (
    "n_train n_test epochs batch_size width depths activations lr_count lr_min lr_max "
    "search_runs final_runs figure_depth probe_batch eps_values eps_activations eps_depth "
    "eps_lr eps_seeds eps_epochs dataset"
).split()


def cmd_reproduce(args: argparse.Namespace) -> int:
    from tinybgn.experiments.report import reproduce

    changes = {}
    for name in SIZE_FIELDS:
        value = getattr(args, name, None)
        changes[name] = tuple(value) if isinstance(value, list) else value
    try:
        preset = get_preset(args.preset).replace(**changes).validate()
    except ValueError as err:
        print(f"tinybgn reproduce: error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / f"{preset.name}-{preset.dataset}"
    result = reproduce(preset, out, data_dir=args.data_dir, workers=args.workers, quiet=args.quiet)
    if not args.quiet:
        print((Path(result["out_dir"]) / "table1.md").read_text())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import warnings

    import tinybgn
    from tinybgn.data import load_dataset
    from tinybgn.train import train

    if args.resume and args.checkpoint is None:
        print("tinybgn train: error: --resume needs --checkpoint", file=sys.stderr)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(args.dataset, args.data_dir, n_train=args.n_train, n_test=args.n_test)
    for w in caught:
        print(f"WARNING: {w.message}", file=sys.stderr)
    model = tinybgn.mlp(
        in_features=ds.x_train.shape[1],
        hidden=(args.width,) * args.depth,
        activation=args.activation,
        batchnorm=args.bn,
        bgn=args.bgn,
        seed=args.seed,
    )

    def progress(e) -> None:
        if not args.quiet:
            print(
                f"epoch {e.epoch:>3}/{args.epochs}: train loss {e.train_loss:.4f}, test loss "
                f"{e.test_loss:.4f}, test acc {e.test_accuracy:.4f}, top class "
                f"{e.top_class_fraction:.2f}, {e.seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )

    if not args.quiet:
        print(f"data: {ds.info['name']}, {ds.info['split']}", file=sys.stderr)
    history = train(
        model,
        ds.x_train,
        ds.y_train,
        ds.x_test,
        ds.y_test,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        eps=args.eps,
        seed=args.seed,
        checkpoint=args.checkpoint,
        resume=args.resume,
        progress=progress,
    )
    if args.history is not None:
        args.history.write_text(json.dumps(history.to_dict(), indent=1) + "\n")
    if history.diverged is not None:
        d = history.diverged
        print(
            f"diverged at epoch {d['epoch']}, step {d['step']}: {d['error']} "
            f"(non-finite first at {d['stage']} of layer {d['layer_index']}: {d['layer']})",
            file=sys.stderr,
        )
    elif history.final is not None:
        print(f"final test accuracy {history.final.test_accuracy:.4f}")
    return 0
