"""Ready checks for the exercises students implement (``lessons/exercises/``).

Each exercise file holds a stub - a backward pass (or Adam's step) that raises
``NotImplementedError`` - for the student to write. A check loads the file, runs the student's
code against what it must satisfy and reports, like CS231n's check cells, the number it measured
and the bound it should be below::

    FAIL ex05_batchnorm  BatchNorm backward: finite differences, x: relative error 3.1e-01,
         should be below 1e-07

What is checked, per exercise:

* **Dense (eqs. 1-3), ReLU (eq. 6), BatchNorm** - the layer contract and central finite
  differences of the student's own forward, on many hypothesis-drawn shapes and inputs, in
  training and evaluation mode (:func:`tinybgn.testing.check_layer`, with a fixed seed so a
  student sees the same examples on every run), then one fixed example whose relative error is
  printed, then agreement with tinybgn's own layer on the same input;
* **softmax cross-entropy** - finite differences of the loss, and agreement with
  :func:`tinybgn.softmax_cross_entropy`;
* **BGN (eq. 5)** - never finite differences (its backward is deliberately not the derivative
  of its forward): the norm is kappa and the direction kept (eq. 5), the eq. 9 properties
  (:func:`tinybgn.testing.check_bgn_like`), agreement with :class:`tinybgn.BGN`;
* **Adam (Algorithm 1)** - the first step is ``lr * g / (|g| + eps)``, and 20 steps agree with
  :class:`tinybgn.Adam`.

``tinybgn lessons check`` runs them all (``--solutions``: on the worked solutions); a single
file checks itself when run (``python lessons/exercises/ex01_dense.py``).
"""

from __future__ import annotations

import importlib.util
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

import tinybgn as tb
from tinybgn.gradcheck import gradcheck, numerical_gradient, rel_error

EPS = np.finfo(np.float64).eps

#: Bound on the relative error of a finite-difference check (float64, h = 1e-6): a correct
#: backward gives ~1e-10 (lesson 1), a wrong one ~1e-2 .. 1.
FD_BOUND = 1e-7
#: Bound on the relative difference from tinybgn's own layer: the same arithmetic in another
#: order differs by a few float64 roundings, ~1e-16 .. 1e-14.
AGREE_BOUND = 1e-10


class ExerciseFailure(AssertionError):
    """A check failed; the message says what was measured and what it should be."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one exercise's check."""

    exercise: str  # file stem, e.g. "ex05_batchnorm"
    title: str
    passed: bool
    message: str

    def describe(self) -> str:
        """``PASS name: title`` then the measurements, one per indented line."""
        status = "PASS" if self.passed else "FAIL"
        lines = "".join(f"\n       {line}" for line in self.message.splitlines())
        return f"{status}  {self.exercise}: {self.title}{lines}"


def _measured(what: str, error: float, bound: float, kind: str = "relative error") -> str:
    """Fail unless ``error < bound``; else return the line that says both."""
    line = f"{what}: {kind} {error:.1e}, should be below {bound:.0e}"
    if not error < bound:  # also catches NaN
        raise ExerciseFailure(line)
    return line


# -- the hypothesis-driven part: tinybgn.testing ------------------------------------------------
def property_check(
    make_layer: Callable[[int], object], *, kinks=None, batch_statistics=False, bgn_like=False
) -> None:
    """The property-based checks of :mod:`tinybgn.testing` on ``make_layer``: the layer contract
    and finite differences on hypothesis-drawn shapes and inputs (:func:`check_layer`), or, for a
    BGN-like layer, eqs. (4), (5), (8), (9), (10) (:func:`check_bgn_like`). Raises its
    ``CheckFailure`` (an AssertionError naming the property and the shrunk example)."""
    try:
        from tinybgn import testing
    except ImportError as err:  # hypothesis is missing
        raise tb.TinyBGNError(
            f'the exercise checks need hypothesis ({err}): pip install -e ".[test]"'
        ) from None
    if bgn_like:
        testing.check_bgn_like(make_layer, seed=0)
    else:
        testing.check_layer(make_layer, kinks=kinks, batch_statistics=batch_statistics, seed=0)


def _away_from(x: np.ndarray, kinks) -> np.ndarray:
    """``x`` with every entry moved at least 0.1 away from each of ``kinks``."""
    for kink in kinks or ():
        near = np.abs(x - kink) < 0.1
        x = np.where(near, kink + np.where(x >= kink, 0.1, -0.1), x)
    return x


# -- the checks, one per exercise --------------------------------------------------------------
def _fixed_input(shape, seed=0, kinks=None) -> np.ndarray:
    return _away_from(np.random.default_rng(seed).standard_normal(shape), kinks)


def _layer_checks(make_mine, make_theirs, what: str, *, kinks=None, batch_statistics=False) -> str:
    """Properties, one printed finite-difference check and agreement with tinybgn's layer."""
    property_check(make_mine, kinks=kinks, batch_statistics=batch_statistics)
    x = _fixed_input((6, 5), kinks=kinks)
    result = gradcheck(make_mine(5), x, seed=3)
    name = max(result.errors, key=result.errors.get)
    fd_line = _measured(f"finite differences ({name})", result.errors[name], FD_BOUND)

    mine, theirs = make_mine(5), make_theirs(5)
    for key in theirs.params:
        theirs.params[key][...] = mine.params[key]
    dy = np.random.default_rng(4).standard_normal(mine.forward(x).shape)
    theirs.forward(x)
    got, want = mine.backward(dy), theirs.backward(dy)
    worst = rel_error(got, want)
    for key in theirs.params:
        worst = max(worst, rel_error(mine.grads[key], theirs.grads[key]))
    agree_line = _measured(f"agreement with tinybgn.{what}", worst, AGREE_BOUND)
    return f"{fd_line}\n{agree_line}"


def check_dense(module: ModuleType) -> str:
    def make_mine(features):
        rng = np.random.default_rng(features)
        layer = module.MyDense(features, 3, rng=rng, dtype=np.float64)
        layer.params["b"][:] = rng.standard_normal(3)  # non-zero, so eq. (2) is visible
        return layer

    return _layer_checks(make_mine, lambda f: tb.Dense(f, 3, dtype=np.float64), "Dense")


def check_relu(module: ModuleType) -> str:
    return _layer_checks(lambda f: module.MyReLU(), lambda f: tb.ReLU(), "ReLU", kinks=[0.0])


def check_batchnorm(module: ModuleType) -> str:
    def make_mine(features):
        layer = module.MyBatchNorm(features, dtype=np.float64)
        rng = np.random.default_rng(features)
        layer.params["gamma"][:] = rng.uniform(0.5, 2.0, features)  # not 1: a visible gradient
        layer.params["beta"][:] = rng.standard_normal(features)
        return layer

    return _layer_checks(
        make_mine,
        lambda f: tb.BatchNorm(f, dtype=np.float64),
        "BatchNorm",
        batch_statistics=True,
    )


def check_softmax_cross_entropy(module: ModuleType) -> str:
    rng = np.random.default_rng(0)
    logits, labels = 2 * rng.standard_normal((8, 10)), rng.integers(0, 10, 8)
    mine = np.asarray(module.softmax_cross_entropy_backward(logits.copy(), labels))
    if mine.shape != logits.shape:
        raise ExerciseFailure(f"the gradient has shape {mine.shape}, should be {logits.shape}")
    numeric = numerical_gradient(lambda: module.loss(logits, labels), logits)
    fd_line = _measured("finite differences", rel_error(mine, numeric), 1e-6)
    _, theirs = tb.softmax_cross_entropy(logits, labels)
    agree_line = _measured(
        "agreement with tinybgn.softmax_cross_entropy", rel_error(mine, theirs), AGREE_BOUND
    )
    return f"{fd_line}\n{agree_line}"


def check_bgn(module: ModuleType) -> str:
    rng = np.random.default_rng(0)
    N, d = 4, 6
    x, g = rng.standard_normal((N, d)), rng.standard_normal((N, d))
    layer = module.MyBGN()
    layer.forward(x)
    out = np.asarray(layer.backward(g.copy()))
    if out.shape != g.shape:
        raise ExerciseFailure(f"backward returned shape {out.shape}, should be {g.shape}")
    kappa = np.sqrt(d)
    norm_error = abs(np.linalg.norm(out) / kappa - 1)
    norm_line = _measured("eq. (5), ||BGN_b(g)|| against kappa", norm_error, 8 * N * d * EPS)
    cos = np.sum(out * g) / (np.linalg.norm(out) * np.linalg.norm(g))
    direction_line = _measured("eq. (5), direction of g kept", 1 - cos, 1e-12, "1 - cos")
    property_check(lambda features: module.MyBGN(), bgn_like=True)
    theirs = tb.BGN()
    theirs.forward(x)
    agree_line = _measured(
        "agreement with tinybgn.BGN", rel_error(out, theirs.backward(g)), AGREE_BOUND
    )
    return f"{norm_line}\n{direction_line}\n{agree_line}"


def check_adam(module: ModuleType) -> str:
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal(40)
    grads = rng.standard_normal((20, 40)) * np.logspace(-3, 1, 40)  # many scales per weight
    lr = 1e-2

    def run(optimizer_class, steps):
        theta, g = theta0.copy(), np.zeros_like(theta0)
        opt = optimizer_class([(theta, g)], lr=lr)
        for t in range(steps):
            g[...] = grads[t]
            opt.step()
        return theta

    first = run(module.MyAdam, 1) - theta0
    expected = -lr * grads[0] / (np.abs(grads[0]) + 1e-7)  # m_hat = g, v_hat = g^2 at t = 1
    first_line = _measured(
        "first step lr g / (|g| + eps) (Algorithm 1 at t = 1)", rel_error(first, expected), 1e-10
    )
    mine, theirs = run(module.MyAdam, 20) - theta0, run(tb.Adam, 20) - theta0
    agree_line = _measured("20 steps, agreement with tinybgn.Adam", rel_error(mine, theirs), 1e-10)
    return f"{first_line}\n{agree_line}"


@dataclass(frozen=True)
class Exercise:
    stem: str
    title: str
    check: Callable[[ModuleType], str]


EXERCISES = (
    Exercise("ex01_dense", "Dense backward, eqs. (1)-(3)", check_dense),
    Exercise("ex02_relu", "ReLU backward, eq. (6)", check_relu),
    Exercise(
        "ex02_softmax_cross_entropy", "softmax cross-entropy gradient", check_softmax_cross_entropy
    ),
    Exercise("ex04_bgn", "BGN backward, eq. (5)", check_bgn),
    Exercise("ex05_batchnorm", "BatchNorm backward", check_batchnorm),
    Exercise("ex06_adam", "Adam step, Algorithm 1", check_adam),
)


def load(path: Path) -> ModuleType:
    """Import an exercise file as a fresh module (never cached: a student edits and re-runs)."""
    spec = importlib.util.spec_from_file_location(f"tinybgn_exercise_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_check(exercise: Exercise, module: ModuleType) -> CheckResult:
    """Run one check on an already loaded module; every failure becomes a FAIL line."""
    try:
        message = exercise.check(module)
        return CheckResult(exercise.stem, exercise.title, True, message)
    except NotImplementedError as err:
        text = f" ({err})" if str(err) else ""
        message = f"not implemented yet: the stub raises NotImplementedError{text}"
    except AssertionError as err:  # ExerciseFailure, or a property of tinybgn.testing
        message = str(err).strip() or "an assertion failed"
    except Exception as err:  # the student's code crashed: say where
        where = traceback.extract_tb(err.__traceback__)[-1]
        message = f"{type(err).__name__}: {err} (at {Path(where.filename).name}:{where.lineno})"
    return CheckResult(exercise.stem, exercise.title, False, message)


def run_checks(
    folder: Path, *, solutions: bool = False, only: list[str] | None = None
) -> list[CheckResult]:
    """Check every exercise in ``folder`` (``folder/solutions`` with ``solutions=True``)."""
    folder = Path(folder) / "solutions" if solutions else Path(folder)
    chosen = [e for e in EXERCISES if not only or e.stem in only or e.stem[:4] in only]
    if not chosen:
        raise tb.TinyBGNError(f"no exercise named {', '.join(only)}")
    results = []
    for exercise in chosen:
        path = folder / f"{exercise.stem}.py"
        if not path.is_file():
            results.append(CheckResult(exercise.stem, exercise.title, False, f"{path} is missing"))
            continue
        try:
            module = load(path)
        except Exception as err:
            message = f"cannot import {path.name}: {type(err).__name__}: {err}"
            results.append(CheckResult(exercise.stem, exercise.title, False, message))
            continue
        results.append(run_check(exercise, module))
    return results


def check_file(path: str | Path) -> int:
    """The ready check at the bottom of an exercise file: print its result; 0 if it passes."""
    path = Path(path)
    exercise = next(e for e in EXERCISES if e.stem == path.stem)
    result = run_check(exercise, load(path))
    print(result.describe())
    return 0 if result.passed else 1
