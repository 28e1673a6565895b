"""The exercises students implement: every check fails on its stub and on a typical mistake,
passes on the worked solution, and ``tinybgn lessons check`` says so with the right exit code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tinybgn as tb
from tinybgn import exercises

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "lessons" / "exercises"
BY_STEM = {e.stem: e for e in exercises.EXERCISES}


def check(stem: str, module) -> exercises.CheckResult:
    return exercises.run_check(BY_STEM[stem], module)


@pytest.mark.parametrize("stem", sorted(BY_STEM))
def test_stub_fails_as_not_implemented_and_solution_passes(stem):
    stub = check(stem, exercises.load(FOLDER / f"{stem}.py"))
    assert not stub.passed and "NotImplementedError" in stub.message, stub.describe()
    solved = check(stem, exercises.load(FOLDER / "solutions" / f"{stem}.py"))
    assert solved.passed, solved.describe()
    assert "should be below" in solved.message  # it says what it measured, and the bound


# -- typical mistakes: each must fail its check, with the measured error and the bound ---------
class BatchNormWithoutVarianceTerm(tb.BatchNorm):
    def backward(self, grad):
        grad = self._check_grad(grad)
        g_hat = grad * self.params["gamma"]
        self.grads["gamma"][...] = (grad * self.x_hat).sum(axis=0)
        self.grads["beta"][...] = grad.sum(axis=0)
        return self.inv_std * (g_hat - g_hat.mean(axis=0))  # no x_hat * mean(g_hat x_hat)


class BGNPerSample(tb.BGN):
    def backward(self, g):
        g = self._check_grad(g)
        kappa = np.sqrt(g.shape[1])
        return kappa * g / np.linalg.norm(g, axis=1, keepdims=True)  # each row on its own


class ReLUDerivativeOfOutput(tb.ReLU):
    def backward(self, grad):
        return self._check_grad(grad) * self.y  # multiplies by y = f(z), not by f'(z)


class ReLUMaskedByIncomingGradient(tb.ReLU):
    def backward(self, grad):
        grad = self._check_grad(grad)
        return grad * (grad > 0)  # the derivative read off the gradient from above


class AdamWithoutBiasCorrection(tb.Adam):
    def step(self):
        self.t += 1
        for (theta, g), m, v in zip(self.pairs, self.m, self.v, strict=True):
            m[...] = self.beta1 * m + (1 - self.beta1) * g
            v[...] = self.beta2 * v + (1 - self.beta2) * g * g
            theta -= self.lr * m / (np.sqrt(v) + self.eps)  # m, v used as m_hat, v_hat


class DenseBiasMean(tb.Dense):
    def backward(self, delta):
        delta = self._check_grad(delta)
        self.grads["W"][...] = delta.T @ self.x
        self.grads["b"][...] = delta.mean(axis=0)  # eq. (2) averaged instead of summed
        return delta @ self.W


def softmax_gradient_without_mean(logits, labels):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p  # forgot the 1/N


def given_loss():
    return exercises.load(FOLDER / "ex02_softmax_cross_entropy.py").loss


MISTAKES = {
    "batchnorm without the variance term": (
        "ex05_batchnorm",
        lambda: SimpleNamespace(MyBatchNorm=BatchNormWithoutVarianceTerm),
    ),
    "BGN normalised per sample": ("ex04_bgn", lambda: SimpleNamespace(MyBGN=BGNPerSample)),
    "ReLU derivative taken of the output": (
        "ex02_relu",
        lambda: SimpleNamespace(MyReLU=ReLUDerivativeOfOutput),
    ),
    "ReLU masked by the incoming gradient": (
        "ex02_relu",
        lambda: SimpleNamespace(MyReLU=ReLUMaskedByIncomingGradient),
    ),
    "Adam without bias correction": (
        "ex06_adam",
        lambda: SimpleNamespace(MyAdam=AdamWithoutBiasCorrection),
    ),
    "Dense bias gradient averaged": ("ex01_dense", lambda: SimpleNamespace(MyDense=DenseBiasMean)),
    "softmax gradient without 1/N": (
        "ex02_softmax_cross_entropy",
        lambda: SimpleNamespace(
            loss=given_loss(), softmax_cross_entropy_backward=softmax_gradient_without_mean
        ),
    ),
}


#: What each check must catch the mistake with (the property that fails).
CAUGHT_BY = {"ex04_bgn": "eq. (5)", "ex06_adam": "first step"}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_check_fails_on_a_typical_mistake(mistake):
    stem, make_module = MISTAKES[mistake]
    result = check(stem, make_module())
    assert not result.passed, result.describe()
    assert CAUGHT_BY.get(stem, "finite differences") in result.message, result.describe()


def test_bgn_per_sample_fails_eq5_norm():
    result = check("ex04_bgn", SimpleNamespace(MyBGN=BGNPerSample))
    assert "eq. (5)" in result.message and "should be below" in result.message, result.message


def test_adam_without_bias_correction_fails_the_first_step():
    result = check("ex06_adam", SimpleNamespace(MyAdam=AdamWithoutBiasCorrection))
    assert "first step" in result.message and "should be below" in result.message, result.message


def test_a_crashing_exercise_is_reported_not_raised():
    class Broken(tb.ReLU):
        def backward(self, grad):
            return grad @ np.ones((3, 3, 3))  # a shape error

    result = check("ex02_relu", SimpleNamespace(MyReLU=Broken))
    assert not result.passed and "ValueError" in result.message, result.message


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to clone")
def test_fresh_clone_check_fails_on_stubs_and_passes_on_solutions(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    # Run the clone's own tinybgn: drop this checkout's editable-install finder, which would
    # otherwise win over sys.path, and put the clone first.
    script = (
        "import sys; sys.meta_path = [f for f in sys.meta_path "
        "if 'editable' not in getattr(f, '__module__', '') and 'editable' not in repr(f)]; "
        f"sys.path.insert(0, {str(clone)!r}); import tinybgn; "
        f"assert tinybgn.__file__.startswith({str(clone)!r}), tinybgn.__file__; "
        "from tinybgn.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    run = [sys.executable, "-c", script, "lessons", "check"]
    env = dict(os.environ)
    stubs = subprocess.run(run, cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert stubs.returncode == 1, stubs.stdout + stubs.stderr
    assert stubs.stdout.count("FAIL") == len(exercises.EXERCISES)
    solved = subprocess.run(
        [*run, "--solutions"], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert solved.stdout.count("PASS") == len(exercises.EXERCISES)


def test_an_exercise_file_checks_itself_when_run():
    proc = subprocess.run(
        [sys.executable, str(FOLDER / "solutions" / "ex04_bgn.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("PASS"), proc.stdout + proc.stderr
    proc = subprocess.run(
        [sys.executable, str(FOLDER / "ex04_bgn.py")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1 and proc.stdout.startswith("FAIL"), proc.stdout + proc.stderr


@pytest.mark.parametrize("stem", sorted(BY_STEM))
def test_each_exercise_is_named_by_its_lesson(stem):
    lesson = next((ROOT / "lessons").glob(f"{stem[2:4]}_*.py"))
    assert f"lessons/exercises/{stem}.py" in lesson.read_text(encoding="utf-8")
