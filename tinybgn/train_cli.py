"""``tinybgn train``: train one network of the paper's family and print its history.

Example::

    tinybgn train --activation relu --depth 90 --bgn --epochs 5 --lr 1e-3
    tinybgn train --depth 30 --bgn --bgn-every 3 --optimizer momentum --lr 0.01 --epochs 2
    tinybgn train --depth 30 --grad-method clip --clip-norm 1 --checkpoint run.npz
    tinybgn train --checkpoint run.npz --resume --epochs 10      # the saved settings are used

**Settings and resume.** The options marked (setting) below define the run and are saved in
the checkpoint. With ``--resume`` every setting not given on the command line is taken from
the checkpoint; one that *is* given must equal the saved value, else the command stops with an
error (resuming with another ``--lr`` or ``--seed`` would silently make a different run).
``--epochs`` is not a setting: resuming with more epochs extends the run.

**BLAS threads.** ``--threads N`` (default 1) sets the number of OpenBLAS threads through
:mod:`tinybgn.blas`, and the history records it (``meta.blas_threads``): bit-identical reruns
need the same count, and the paper's 64-wide layers gain little from more threads, so one thread
per run (and several runs in parallel) is the default.

Outputs (``--checkpoint``, ``--history``) are checked for writability before any training, so
a typo in a path never throws away a finished run. Exit codes: 0 success (also for a run that
diverged: that is a result), 2 an error (bad option, missing data, damaged checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinybgn.errors import TinyBGNError
from tinybgn.experiments.cli import _positive_float
from tinybgn.train import DEFAULT_BATCH_SIZE

ACTIVATION_NAMES = ("relu", "sigmoid", "tanh")

#: Default of every (setting) option; ``lr`` None means 1e-3 for Adam (Keras's default) and
#: 0.01 for SGD and momentum (Keras's SGD default) - assumptions, the paper states only Adam.
DEFAULTS = {
    "dataset": "mnist",
    "n_train": None,
    "n_test": None,
    "activation": "relu",
    "depth": 90,
    "width": 64,
    "bn": False,
    "bgn": False,
    "bgn_kappa": None,
    "bgn_every": 1,
    "bgn_scope": "batch",
    "optimizer": "adam",
    "lr": None,
    "eps": None,
    "momentum": None,
    "grad_method": "none",
    "clip_norm": None,
    "batch_size": DEFAULT_BATCH_SIZE,
    "seed": 0,
    "threads": 1,
}


class TrainCommandError(TinyBGNError, ValueError):
    """A bad combination of ``tinybgn train`` options (printed as ``error: ...``, exit 2)."""


def _integer(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def add_subcommand(subparsers) -> None:
    """Add ``train`` to the ``tinybgn`` command line."""
    from tinybgn.grad_methods import GRAD_METHODS
    from tinybgn.optim import DEFAULT_MOMENTUM, OPTIMIZERS

    p = subparsers.add_parser(
        "train",
        help="train one network of the paper's family and print its history",
        description="Train one MLP; evaluate on the test set after every epoch. Options marked "
        "(setting) define the run; with --resume they default to the checkpoint's.",
    )
    keep = argparse.SUPPRESS  # settings not given stay absent, so --resume can tell them apart
    d = DEFAULTS

    def setting(*flags, help, **kwargs):
        p.add_argument(*flags, default=keep, help=f"(setting) {help}", **kwargs)

    setting("--dataset", help="mnist (default) or fashion-mnist")
    setting("--n-train", type=_integer(1), help="training subset size (default: all)")
    setting("--n-test", type=_integer(1), help="test subset size (default: all)")
    setting("--activation", choices=ACTIVATION_NAMES, help=f"default {d['activation']}")
    setting("--depth", type=_integer(1), help=f"hidden layers (default {d['depth']})")
    setting("--width", type=_integer(1), help=f"units per layer (default {d['width']})")
    setting("--bn", action="store_true", help="BatchNorm before every activation")
    setting("--bgn", action="store_true", help="BGN before every activation")
    setting("--bgn-kappa", type=_positive_float, help="BGN's kappa (default sqrt(d), eq. 5)")
    setting("--bgn-every", type=_integer(1), help="BGN before every k-th activation only (1)")
    setting("--bgn-scope", choices=("batch", "sample"), help="norm over the batch (default)")
    setting("--optimizer", choices=OPTIMIZERS, help="default adam")
    setting("--lr", type=_positive_float, help="learning rate (1e-3 for adam, 0.01 for sgd)")
    setting("--eps", type=_positive_float, help="Adam's eps (default 1e-7, Keras's)")
    setting("--momentum", type=float, help=f"for --optimizer momentum ({DEFAULT_MOMENTUM})")
    setting("--grad-method", choices=GRAD_METHODS, help="after backprop (default none)")
    setting("--clip-norm", type=_positive_float, help="for --grad-method clip (default 1)")
    setting(
        "--batch-size",
        type=_integer(1),
        help=f"mini-batch size (default {DEFAULT_BATCH_SIZE}, Keras's; the paper states none)",
    )
    setting("--seed", type=_integer(0), help="weights and batch order (default 0)")
    setting("--threads", type=_integer(1), help="OpenBLAS threads (default 1)")
    p.add_argument("--data-dir", type=Path, default=None, help="folder searched first")
    p.add_argument("--no-download", action="store_true", help="never download a missing dataset")
    p.add_argument("--epochs", type=_integer(1), default=20, help="train up to this epoch (20)")
    p.add_argument("--checkpoint", type=Path, default=None, help="save after every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--history", type=Path, default=None, help="write the history as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train)


def resolve_settings(args: argparse.Namespace) -> dict:
    """The run's settings: the command line's, else (with --resume) the checkpoint's, else the
    defaults. Raises TrainCommandError for a flag that contradicts the checkpoint or another
    flag."""
    from tinybgn.grad_methods import DEFAULT_CLIP_NORM
    from tinybgn.optim import DEFAULT_MOMENTUM
    from tinybgn.train import DEFAULT_EPS, read_checkpoint_meta

    given = {k: v for k, v in vars(args).items() if k in DEFAULTS}
    saved: dict = {}
    if args.resume and args.checkpoint.exists():
        saved = ((read_checkpoint_meta(args.checkpoint).get("user") or {}).get("cli")) or {}
        conflicts = [
            f"--{k.replace('_', '-')} {given[k]} (the checkpoint has {saved[k]})"
            for k in given
            if k in saved and given[k] != saved[k]
        ]
        if conflicts:
            raise TrainCommandError(
                f"{args.checkpoint} was written with other settings: "
                + ", ".join(conflicts)
                + "; drop these options to resume with the checkpoint's, or use a new "
                "--checkpoint"
            )
    s = {**DEFAULTS, **saved, **given}
    needs = [
        ("eps", "optimizer", ("adam",)),
        ("momentum", "optimizer", ("momentum",)),
        ("clip_norm", "grad_method", ("clip",)),
    ]
    for key, owner, values in needs:
        if s[key] is not None and s[owner] not in values:
            flag, owner_flag = key.replace("_", "-"), owner.replace("_", "-")
            raise TrainCommandError(f"--{flag} needs --{owner_flag} {values[0]}")
    if not s["bgn"]:
        for key in ("bgn_kappa", "bgn_every", "bgn_scope"):
            if s[key] != DEFAULTS[key]:
                raise TrainCommandError(f"--{key.replace('_', '-')} needs --bgn")
        if s["grad_method"] == "frozen_bgn":
            raise TrainCommandError("--grad-method frozen_bgn needs --bgn (it freezes BGN's n_K)")
    if s["lr"] is None:
        s["lr"] = 1e-3 if s["optimizer"] == "adam" else 0.01
    if s["optimizer"] == "adam" and s["eps"] is None:
        s["eps"] = DEFAULT_EPS
    if s["optimizer"] == "momentum" and s["momentum"] is None:
        s["momentum"] = DEFAULT_MOMENTUM
    if s["grad_method"] == "clip" and s["clip_norm"] is None:
        s["clip_norm"] = DEFAULT_CLIP_NORM
    return s


def _optimizer_kwargs(s: dict) -> dict:
    if s["optimizer"] == "adam":
        return {"eps": s["eps"]}
    return {} if s["momentum"] is None else {"momentum": s["momentum"]}


def _optimizer(s: dict, params):
    """The optimiser of settings ``s`` over ``params``; TrainCommandError if invalid."""
    from tinybgn.optim import make_optimizer

    try:
        return make_optimizer(s["optimizer"], params, s["lr"], **_optimizer_kwargs(s))
    except (ValueError, TypeError) as err:
        raise TrainCommandError(str(err)) from err


def _check_optimizer_first(s: dict) -> None:
    """Build the optimiser on a one-weight float32 stand-in, so that e.g. ``--eps 1e-50``
    (0 in float32) fails before the data is loaded."""
    import numpy as np

    _optimizer(s, [(np.zeros(1, np.float32), np.zeros(1, np.float32))])


def _build(s: dict, in_features: int):
    """Model, optimiser and gradient method of settings ``s``; TrainCommandError if invalid."""
    import tinybgn
    from tinybgn.grad_methods import make_grad_method

    try:
        model = tinybgn.mlp(
            in_features=in_features,
            hidden=(s["width"],) * s["depth"],
            activation=s["activation"],
            batchnorm=s["bn"],
            bgn=s["bgn"],
            bgn_kappa=s["bgn_kappa"],
            bgn_every=s["bgn_every"],
            bgn_scope=s["bgn_scope"],
            seed=s["seed"],
        )
        kwargs = {"clip_norm": s["clip_norm"]} if s["grad_method"] == "clip" else {}
        grad_method = make_grad_method(s["grad_method"], **kwargs)
    except (ValueError, TypeError) as err:
        raise TrainCommandError(str(err)) from err
    return model, _optimizer(s, model.parameters()), grad_method


def _run(args: argparse.Namespace, s: dict):
    """Load the data, build the run of settings ``s`` and train it; returns the History."""
    import warnings

    from tinybgn import blas
    from tinybgn.data import load_dataset
    from tinybgn.train import train

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(
            s["dataset"],
            args.data_dir,
            download=not args.no_download,
            n_train=s["n_train"],
            n_test=s["n_test"],
        )
    for w in caught:
        print(f"WARNING: {w.message}", file=sys.stderr)
    model, optimizer, grad_method = _build(s, ds.x_train.shape[1])

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
        print(
            f"data: {ds.info['name']}, {ds.info['split']}; BLAS threads: {blas.num_threads()}",
            file=sys.stderr,
        )
    return train(
        model,
        ds.x_train,
        ds.y_train,
        ds.x_test,
        ds.y_test,
        epochs=args.epochs,
        batch_size=s["batch_size"],
        seed=s["seed"],
        optimizer=optimizer,
        grad_method=grad_method,
        checkpoint=args.checkpoint,
        resume=args.resume,
        progress=progress,
        meta={"cli": s},
    )


def cmd_train(args: argparse.Namespace) -> int:
    from tinybgn import blas
    from tinybgn.files import atomic_write_text
    from tinybgn.train import check_writable

    if args.resume and args.checkpoint is None:
        raise TrainCommandError("--resume needs --checkpoint")
    for path, what in ((args.checkpoint, "checkpoint"), (args.history, "history")):
        if path is not None:
            check_writable(path, what)
    s = resolve_settings(args)
    _check_optimizer_first(s)
    previous = blas.set_num_threads(s["threads"])
    if previous is None and "threads" in vars(args):
        print("WARNING: no OpenBLAS found; --threads has no effect", file=sys.stderr)
    try:
        history = _run(args, s)
    finally:
        if previous is not None:
            blas.set_num_threads(previous)
    if args.history is not None:
        record = {**history.to_dict(), "settings": s}
        atomic_write_text(args.history, json.dumps(record, indent=1) + "\n")
    if history.diverged is not None:
        d = history.diverged
        where = (
            f"(non-finite first at {d['stage']} of layer {d['layer_index']}: {d['layer']})"
            if d["stage"] != "loss"
            else "(the loss grew by orders of magnitude)"
        )
        step = "" if d["step"] is None else f", step {d['step']}"
        print(f"diverged at epoch {d['epoch']}{step}: {d['error']} {where}", file=sys.stderr)
    elif history.final is not None:
        print(f"final test accuracy {history.final.test_accuracy:.4f}")
    return 0
