"""tinybgn.course: what every lesson shares. Here: the lessons run BLAS on one thread."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tinybgn import course

GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)

PROBE = f"""
import numpy as np  # NumPy (and its OpenBLAS threads) first, as a lesson's imports may do
import tinybgn.course as course
lib = course._openblas_library()
getter = next(getattr(lib, name) for name in {GETTERS!r} if hasattr(lib, name))
print(course.ONE_BLAS_THREAD, getter())
"""


def run_probe(**env_vars) -> str:
    env = {k: v for k, v in os.environ.items() if k not in course.THREAD_VARIABLES}
    env.update(env_vars)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.skipif(course._openblas_library() is None, reason="NumPy's BLAS is not OpenBLAS")
def test_importing_tinybgn_course_sets_one_blas_thread_even_after_numpy():
    assert run_probe() == ["True", "1"]


@pytest.mark.skipif(course._openblas_library() is None, reason="NumPy's BLAS is not OpenBLAS")
def test_an_explicit_thread_count_is_respected():
    assert run_probe(OPENBLAS_NUM_THREADS="2") == ["False", "2"]


def test_lessons_build_without_the_docs_extra_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    from tinybgn.cli import main

    monkeypatch.setitem(sys.modules, "jupytext", None)  # as if not installed: import fails
    assert main(["lessons", "build", "--out", str(tmp_path), "--only", "01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinybgn lessons: error:") and 'pip install -e ".[docs]"' in err


def test_lessons_check_of_an_unknown_exercise_is_an_error(capsys):
    from tinybgn.cli import main

    assert main(["lessons", "check", "--only", "ex99_nothing"]) == 2
    assert "no exercise named ex99_nothing" in capsys.readouterr().err
