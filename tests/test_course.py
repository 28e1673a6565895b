"""tinybgn.course: what every lesson shares. Here: the lessons run BLAS on one thread."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tinybgn import blas, course

PROBE = """
import numpy as np  # NumPy (and its OpenBLAS threads) first, as a lesson's imports may do
from tinybgn import blas
before = blas.num_threads()
import tinybgn.course as course
print(before, course.ONE_BLAS_THREAD, blas.num_threads())
"""


def run_probe(**env_vars) -> str:
    env = {k: v for k, v in os.environ.items() if k not in course.THREAD_VARIABLES}
    env.update(env_vars)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


NO_OPENBLAS = pytest.mark.skipif(blas.num_threads() is None, reason="NumPy's BLAS is not OpenBLAS")


@NO_OPENBLAS
def test_importing_tinybgn_course_sets_one_blas_thread_even_after_numpy():
    before, switched, after = run_probe()
    assert (switched, after) == ("True", "1"), (before, switched, after)


@NO_OPENBLAS
def test_an_explicit_thread_count_is_respected():
    assert run_probe(OPENBLAS_NUM_THREADS="2") == ["2", "False", "2"]


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
