"""From a lesson script to an executed notebook.

A lesson is a percent-format script: ``# %% [markdown]`` starts a markdown cell (its lines
start with ``# ``), ``# %%`` a code cell. jupytext reads it into a notebook; nbclient runs the
notebook in a fresh Python kernel (ipykernel), in an empty temporary folder - so a lesson that
needs a file beside it fails here instead of in a student's hands - with matplotlib's inline
backend, so every figure appears as a PNG under the cell that drew it.

A lesson is a script, so a bare expression at the end of a cell prints nothing when it runs as
one; in a notebook it would show its value (``PosixPath(...)``, ``[Text(...)]``). Such a value
is never part of the lesson, so :func:`execute` refuses notebooks that display one.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tinybgn.errors import TinyBGNError

#: File names of lessons: two digits, an underscore, a name (``03_vanishing_exploding.py``).
LESSON_GLOB = "[0-9][0-9]_*.py"

#: matplotlib's inline backend: figures become image outputs of the cell that drew them.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class HandoutError(TinyBGNError, RuntimeError):
    """A lesson could not be turned into a handout (missing tools, a failing cell, ...)."""


@dataclass(frozen=True)
class Lesson:
    """One lesson script and what the site needs to know about it."""

    path: Path

    @property
    def stem(self) -> str:
        return self.path.stem  # "03_vanishing_exploding"

    @property
    def number(self) -> int:
        return int(self.stem[:2])

    @property
    def title(self) -> str:
        """The lesson's title: its first markdown heading, without the "# Lesson N - " part."""
        for line in self.path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"#\s+#\s+(?:Lesson \d+\s*[-:]\s*)?(.+)", line)
            if match:
                return match.group(1).strip()
        return self.stem


def find_lessons(folder: Path, only: list[str] | None = None) -> list[Lesson]:
    """The lessons in ``folder``, in order; ``only`` keeps those whose number or stem is listed."""
    folder = Path(folder)
    lessons = [Lesson(p) for p in sorted(folder.glob(LESSON_GLOB))]
    if only:
        wanted = {w.strip() for w in only}
        lessons = [ls for ls in lessons if ls.stem in wanted or ls.stem[:2] in wanted]
    if not lessons:
        which = f" matching {', '.join(only)}" if only else ""
        raise HandoutError(f"no lessons{which} in {folder} (expected files like 01_name.py)")
    return lessons


def _tools():
    """Import the docs extra's tools, or say how to install them."""
    try:
        import jupytext
        import nbclient
        import nbformat
    except ImportError as err:
        raise HandoutError(
            f"building handouts needs the docs extra ({err.name} is missing): "
            'pip install -e ".[docs]"'
        ) from None
    return jupytext, nbclient, nbformat


def to_notebook(lesson: Lesson):
    """The lesson as an (unexecuted) notebook, with a Python 3 kernel named in its metadata."""
    jupytext, _, _ = _tools()
    nb = jupytext.read(lesson.path, fmt="py:percent")
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def kernel_environment(figure_dir: Path) -> dict[str, str]:
    """The environment a lesson's kernel runs in: this one, with inline figures, the lesson's
    own PNG copies sent to ``figure_dir``, and no debugger stop (lesson 4's TINYBGN_DEBUG)."""
    env = dict(os.environ)
    env["MPLBACKEND"] = INLINE_BACKEND
    env["TINYBGN_FIG_DIR"] = str(figure_dir)
    env.pop("TINYBGN_DEBUG", None)
    return env


def execute(nb, lesson: Lesson, *, figure_dir: Path, timeout: float = 600) -> float:
    """Run every cell of ``nb`` in place (outputs are stored in it); returns the seconds taken.
    The lesson's own PNG copies of its figures go to ``figure_dir``.

    Raises :class:`HandoutError` naming the lesson and the cell when a cell fails or when a cell
    displays a stray value (see the module docstring).
    """
    _, nbclient, _ = _tools()
    from nbclient.exceptions import CellExecutionError

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"tinybgn-{lesson.stem}-") as work:
        from traitlets.config import Config

        config = Config()  # IPC sockets in the temporary folder: no one else reaches the kernel
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(work) / "kernel")
        client = nbclient.NotebookClient(
            nb,
            config=config,
            kernel_name="python3",
            timeout=timeout,
            resources={"metadata": {"path": work}},  # the kernel's working directory
        )
        try:
            client.execute(env=kernel_environment(Path(figure_dir).resolve()))
        except CellExecutionError as err:
            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(err))  # no terminal colours
            raise HandoutError(f"{lesson.path.name} failed while executing:\n{text}") from None
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "execute_result":
                value = output.get("data", {}).get("text/plain", "")
                raise HandoutError(
                    f"{lesson.path.name}, cell {index}: the cell's last line shows a value "
                    f"({value[:60]!r}); end the cell with a statement (a script prints nothing "
                    "there, so the notebook should not either)"
                )
    return time.perf_counter() - start


def image_count(cell) -> int:
    """How many figures (PNG outputs) a notebook cell shows."""
    return sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
