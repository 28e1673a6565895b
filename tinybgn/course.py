"""What every lesson of the course shares: the fast-mode flag, where figures go, the real digits.

Lessons (``lessons/NN_*.py``) and the notebooks built from them import this module
(``from tinybgn.course import FAST, save_figure, mnist_dir``), so a lesson handed out alone,
outside the repository, still runs. It holds no engine code: everything a lesson computes
comes from ``tinybgn``.

* ``TINYBGN_FAST=1`` in the environment shrinks every lesson (CI runs them this way); without it
  a lesson runs at its teaching size.
* Figures are written to ``TINYBGN_FIG_DIR`` when set (CI sets a temporary folder), else to
  ``lessons/figures/`` of the checkout, else ``./figures``.
* The real MNIST files: ``TINYBGN_DATA`` when set, else ``../shared/data/mnist`` beside the
  checkout when it exists, else ``None`` (then :func:`tinybgn.data.load_dataset` searches its
  usual places).
"""

from __future__ import annotations

import os
from pathlib import Path

from tinybgn.data.locate import project_root

#: True when TINYBGN_FAST is set to anything but "" or "0": every lesson then runs small.
FAST = os.environ.get("TINYBGN_FAST", "") not in ("", "0")


def figure_dir() -> Path:
    """Where lessons save their figures (see the module docstring)."""
    if os.environ.get("TINYBGN_FIG_DIR"):
        return Path(os.environ["TINYBGN_FIG_DIR"])
    root = project_root()
    return root / "lessons" / "figures" if root is not None else Path("figures")


def save_figure(fig, name: str) -> Path:
    """Save ``fig`` as ``figure_dir()/name`` (PNG) and return the path. The figure stays open, so
    a notebook still shows it under the cell."""
    folder = figure_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"figure saved: {path}")
    return path


def mnist_dir() -> Path | None:
    """The folder holding the real MNIST files, or None to let tinybgn search for them."""
    if os.environ.get("TINYBGN_DATA"):
        return None  # load_dataset reads TINYBGN_DATA itself
    root = project_root()
    shared = root.parent / "shared" / "data" / "mnist" if root is not None else None
    return shared if shared is not None and shared.is_dir() else None
