"""What every lesson shares: the fast-mode flag, where figures go, where the real digits are.

Lessons import this module (``from _common import FAST, save_figure, mnist_dir``); it holds no
engine code - everything a lesson computes comes from ``tinybgn``.

* ``TINYBGN_FAST=1`` in the environment shrinks every lesson (CI runs them this way); without it a
  lesson runs at its teaching size.
* Figures are written to ``TINYBGN_FIG_DIR`` when set (CI sets a temporary folder), else to
  ``lessons/figures/``.
* The real MNIST files: ``TINYBGN_DATA`` when set, else ``../shared/data/mnist`` beside the
  repository when it exists, else ``None`` (then :func:`tinybgn.data.load_dataset` searches its
  usual places and explains how to get the files if they are nowhere).
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: True when TINYBGN_FAST is set to anything but "" or "0": every lesson then runs small.
FAST = os.environ.get("TINYBGN_FAST", "") not in ("", "0")

FIG_DIR = Path(os.environ.get("TINYBGN_FIG_DIR") or HERE / "figures")


def save_figure(fig, name: str) -> Path:
    """Save ``fig`` as ``FIG_DIR/name`` (PNG) and return the path. The figure stays open, so a
    notebook still shows it under the cell."""
    FIG_DIR.mkdir(parents=True, exist_ok=True)
    path = FIG_DIR / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"figure saved: {path}")
    return path


def mnist_dir() -> Path | None:
    """The folder holding the real MNIST files, or None to let tinybgn search for them."""
    if os.environ.get("TINYBGN_DATA"):
        return None  # load_dataset reads TINYBGN_DATA itself
    shared = HERE.parent.parent / "shared" / "data" / "mnist"
    return shared if shared.is_dir() else None
