"""The course in lessons/ runs, and states only what it checks.

Every lesson and every worked solution is run as a script, in a subprocess, with
``TINYBGN_FAST=1`` (small sizes), ``MPLBACKEND=Agg`` and ``TINYBGN_FIG_DIR`` pointing into a
temporary folder, so that nothing is written into the repository. Each lesson asserts the facts
it states, so "it ran to the end" means "its claims held". ``-m slow`` also runs every lesson at
its teaching size.

Lesson 9's solution is a pytest file (``lessons/solutions/test_lesson09_*.py``) that pytest
collects by itself; it is not run here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS_DIR = ROOT / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))
SOLUTIONS = sorted((LESSONS_DIR / "solutions").glob("sol[0-9][0-9]_*.py"))
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


def _needs_data(script: Path) -> bool:
    """True if ``script`` loads MNIST without falling back to the embedded sample."""
    text = script.read_text(encoding="utf-8")
    return text.count("load_dataset(") > text.count('fallback="sample"')


def _data_available() -> bool:
    return bool(os.environ.get("TINYBGN_DATA")) or SHARED_MNIST.is_dir()


def run_script(script: Path, workdir: Path, *, fast: bool, timeout: float) -> Path:
    """Run ``script`` like a student would (``python script``) from ``workdir``; fail with its
    output if it exits non-zero. Returns the folder its figures went to."""
    if _needs_data(script) and not _data_available():
        pytest.skip(
            f"{script.name} trains on real MNIST digits, not found at {SHARED_MNIST} "
            "(set TINYBGN_DATA)"
        )
    figures = workdir / "figures"
    env = dict(os.environ)
    env.update(
        {
            "TINYBGN_FAST": "1" if fast else "0",
            "MPLBACKEND": "Agg",
            "TINYBGN_FIG_DIR": str(figures),
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
            # Small matrices: one BLAS thread is faster, and leaves the other core to other tests.
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    env.pop("TINYBGN_DEBUG", None)  # lesson 4 would stop in pdb
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{script.relative_to(ROOT)} exited with {proc.returncode}\n"
            f"--- stdout (last 3000 chars) ---\n{proc.stdout[-3000:]}\n"
            f"--- stderr (last 5000 chars) ---\n{proc.stderr[-5000:]}",
            pytrace=False,
        )
    return figures


def test_there_are_at_least_nine_lessons_each_with_solutions():
    assert len(LESSONS) >= 9
    numbers = [p.name[:2] for p in LESSONS]
    assert numbers == [f"{i:02d}" for i in range(1, len(LESSONS) + 1)]
    solved = {p.name[3:5] for p in SOLUTIONS}
    solved |= {
        m.group(1)
        for p in (LESSONS_DIR / "solutions").glob("test_lesson*.py")
        if (m := re.match(r"test_lesson(\d\d)_", p.name))
    }
    assert solved == set(numbers)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_is_a_percent_script_with_exercises(lesson):
    text = lesson.read_text(encoding="utf-8")
    assert text.startswith("# %% [markdown]\n# # Lesson"), "a lesson opens with its title cell"
    assert text.count("# %%\n") >= 3, "code cells are marked with '# %%'"
    assert "## Exercises" in text
    named = re.findall(r"lessons/solutions/(\w+\.py)", text)
    assert named, "the exercises name their worked solutions"
    for name in named:
        assert (LESSONS_DIR / "solutions" / name).is_file(), f"{name} does not exist"


def test_readme_lists_every_lesson():
    readme = (LESSONS_DIR / "README.md").read_text(encoding="utf-8")
    for path in [*LESSONS, *SOLUTIONS]:
        assert path.name in readme, f"lessons/README.md does not mention {path.name}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_in_fast_mode(lesson, tmp_path):
    figures = run_script(lesson, tmp_path, fast=True, timeout=300)
    saved = sorted(p.name for p in figures.glob("*.png"))
    assert saved, f"{lesson.name} saved no figure"
    assert all(name.startswith(lesson.name[:2]) for name in saved), saved


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_runs_in_fast_mode(solution, tmp_path):
    run_script(solution, tmp_path, fast=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("script", [*LESSONS, *SOLUTIONS], ids=lambda p: p.stem)
def test_runs_at_teaching_size(script, tmp_path):
    run_script(script, tmp_path, fast=False, timeout=1800)


def test_lesson4_pdb_recipe_stops_inside_bgn_backward(tmp_path):
    """Lesson 4 prints a ``python -m pdb`` command; under this (editable) install it must stop
    at the first line of ``BGN.backward`` (``b tinybgn/bgn.py:N`` did not: "not found from
    sys.path")."""
    lesson = LESSONS_DIR / "04_bgn_layer.py"
    env = dict(os.environ, TINYBGN_FAST="1", MPLBACKEND="Agg", TINYBGN_FIG_DIR=str(tmp_path))
    env.pop("TINYBGN_DEBUG", None)
    out = subprocess.run(
        [sys.executable, str(lesson)], cwd=tmp_path, env=env, capture_output=True, text=True
    ).stdout
    command = next(line for line in out.splitlines() if line.startswith("python -m pdb"))
    args = shlex.split(command)
    args[0] = sys.executable
    proc = subprocess.run(
        args,
        cwd=ROOT,
        env=env,
        input="p type(self).__name__, g.shape\nq\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "bgn.py(" in proc.stdout and ")backward()" in proc.stdout, proc.stdout[-2000:]
    assert "('BGN', (4, 6))" in proc.stdout, proc.stdout[-2000:]


def test_syllabus_has_a_row_for_every_lesson():
    from tinybgn.handouts.build import read_syllabus

    rows = read_syllabus(LESSONS_DIR / "README.md")
    missing = [p.name for p in LESSONS if p.name not in rows]
    assert not missing, f"lessons/README.md's syllabus has no row for {missing}"
