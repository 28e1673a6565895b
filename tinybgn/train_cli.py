"""``tinybgn train``: train one network of the paper's family and print its history.

Example::

    tinybgn train --activation relu --depth 90 --bgn --epochs 5 --lr 1e-3

Exit codes: 0 success, 2 an error (bad option, missing data).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinybgn.experiments.cli import _positive_float, _positive_int
from tinybgn.experiments.presets import ACTIVATIONS
from tinybgn.train import DEFAULT_BATCH_SIZE


def add_subcommand(subparsers) -> None:
    """Add ``train`` to the ``tinybgn`` command line."""
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
