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
* BLAS runs on **one thread** once this module is imported, unless ``OPENBLAS_NUM_THREADS``,
  ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` says otherwise: the lessons multiply small
  matrices, for which threads cost more than they save (lesson 8 ran 3x slower with the default
  threads on a loaded machine). Setting the environment variable here would be too late -
  ``import tinybgn`` has already imported NumPy, whose OpenBLAS reads it once, when it loads -
  so the thread count is changed through OpenBLAS's own call (:mod:`tinybgn.blas`).
"""

from __future__ import annotations

import os
from pathlib import Path

from tinybgn import blas
from tinybgn.data.locate import project_root

#: The environment variables BLAS libraries read for their thread count.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: True when TINYBGN_FAST is set to anything but "" or "0": every lesson then runs small.
FAST = os.environ.get("TINYBGN_FAST", "") not in ("", "0")


def figure_dir() -> Path:
    """Where lessons save their figures (see the module docstring)."""
    if os.environ.get("TINYBGN_FIG_DIR"):
        return Path(os.environ["TINYBGN_FIG_DIR"])
    root = project_root()
    return root / "lessons" / "figures" if root is not None else Path("figures")


def save_figure(fig, name: str) -> None:
    """Save ``fig`` as ``figure_dir()/name`` (PNG). The figure stays open, so a notebook still
    shows it under the cell. Returns None on purpose: a lesson's cell ends with this call, and a
    returned path would be shown under the figure as ``PosixPath(...)``."""
    folder = figure_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / name, dpi=110, bbox_inches="tight")
    print(f"figure saved: {name} (in {folder})")


def mnist_dir() -> Path | None:
    """The folder holding the real MNIST files, or None to let tinybgn search for them."""
    if os.environ.get("TINYBGN_DATA"):
        return None  # load_dataset reads TINYBGN_DATA itself
    root = project_root()
    shared = root.parent / "shared" / "data" / "mnist" if root is not None else None
    return shared if shared is not None and shared.is_dir() else None


def limit_blas_threads(n: int = 1) -> bool:
    """Ask the OpenBLAS NumPy uses to run on ``n`` threads (:mod:`tinybgn.blas`); True if it
    could be told.

    Does nothing (and returns False) when one of :data:`THREAD_VARIABLES` is set - the user
    chose a thread count, and BLAS already obeys it - or when NumPy's BLAS is not OpenBLAS.
    """
    if any(os.environ.get(var) for var in THREAD_VARIABLES):
        return False
    return blas.set_num_threads(n) is not None


#: Whether importing this module switched BLAS to one thread (see the module docstring).
ONE_BLAS_THREAD = limit_blas_threads(1)
