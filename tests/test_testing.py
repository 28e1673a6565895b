"""tinybgn.testing: correct user-written layers pass, each kind of bug fails with a clear message.

The layers below are written the way a student would, from scratch on ``tinybgn.Layer`` (not
by subclassing tinybgn's own layers), so the checks are shown to work for anyone's layer.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given

import tinybgn as tb
from tinybgn.testing import (
    KINK_MARGIN,
    CheckFailure,
    batches,
    check_bgn_like,
    check_layer,
    floats,
    upstream_gradients,
)


# -- correct user-written layers -------------------------------------------------------------
class Softplus(tb.Layer):
    """f(z) = log(1 + e^z); f'(z) = sigmoid(z)."""

    def forward(self, z, training=True):
        self.z = self._check_input(z)
        self.y_shape = z.shape
        return np.logaddexp(0.0, self.z)

    def backward(self, grad):
        grad = self._check_grad(grad)
        return grad * self.f_prime()

    def f_prime(self):
        return 0.5 * (1.0 + np.tanh(0.5 * self.z))


class Affine(tb.Layer):
    """z = x W^T + b, eqs. (1)-(3)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        rng = np.random.default_rng(n_in)
        self.params = {"W": rng.normal(size=(n_out, n_in)), "b": np.zeros(n_out)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, training=True):
        self.x = self._check_input(x)
        z = self.x @ self.params["W"].T + self.params["b"]
        self.y_shape = z.shape
        return z

    def backward(self, delta):
        delta = self._check_grad(delta)
        self.grads["W"][...] = delta.T @ self.x
        self.grads["b"][...] = delta.sum(axis=0)
        return delta @ self.params["W"]


class SimpleBatchNorm(tb.Layer):
    """Training-mode batch normalisation with gamma and beta; running means for evaluation."""

    def __init__(self, features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.params = {"gamma": np.ones(features), "beta": np.zeros(features)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"mean": np.zeros(features), "var": np.ones(features)}

    def forward(self, x, training=True):
        x = self._check_input(x)
        mu, var = (x.mean(0), x.var(0)) if training else (self.buffers["mean"], self.buffers["var"])
        self.training = training
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.x_hat = (x - mu) * self.inv_std
        self.y_shape = x.shape
        return self.params["gamma"] * self.x_hat + self.params["beta"]

    def backward(self, grad):
        grad = self._check_grad(grad)
        self.grads["gamma"][...] = (grad * self.x_hat).sum(0)
        self.grads["beta"][...] = grad.sum(0)
        g_hat = grad * self.params["gamma"]
        if not self.training:
            return g_hat * self.inv_std
        return self.inv_std * (g_hat - g_hat.mean(0) - self.x_hat * self.variance_term(g_hat))

    def variance_term(self, g_hat):
        return (g_hat * self.x_hat).mean(0)


class SimpleBGN(tb.Layer):
    """Identity forward; kappa g / ||g|| backward (eqs. 4, 5), norm over the whole batch."""

    def forward(self, x, training=True):
        x = self._check_input(x)
        self.y_shape = x.shape
        return x

    def backward(self, g):
        g = self._check_grad(g)
        norm = np.linalg.norm(g)
        return g if norm == 0 else math.sqrt(g.shape[1]) * g / norm


# -- buggy variants ----------------------------------------------------------------------------
class WrongDerivativeSoftplus(Softplus):
    def f_prime(self):  # BUG: the derivative of tanh, not of softplus
        return 1 - np.tanh(self.z) ** 2


class NoVarianceTermBatchNorm(SimpleBatchNorm):
    def variance_term(self, g_hat):  # BUG: forgets - x_hat * mean(g_hat * x_hat)
        return 0.0


class AccumulatingAffine(Affine):
    def backward(self, delta):
        delta = self._check_grad(delta)
        self.grads["W"] += delta.T @ self.x  # BUG: accumulates across calls
        self.grads["b"] += delta.sum(axis=0)
        return delta @ self.params["W"]


class ReplacingAffine(Affine):
    def backward(self, delta):
        delta = self._check_grad(delta)
        self.grads["W"] = delta.T @ self.x  # BUG: new arrays, not written into the old ones
        self.grads["b"] = delta.sum(axis=0)
        return delta @ self.params["W"]


class UncheckedSoftplus(Softplus):
    def backward(self, grad):  # BUG: no _check_grad, so backward before forward is not caught
        return grad * self.f_prime()


class PerSampleBGN(SimpleBGN):
    def backward(self, g):  # each row normalised on its own: not the paper's eq. (5)
        g = self._check_grad(g)
        norms = np.linalg.norm(g, axis=1, keepdims=True)
        return math.sqrt(g.shape[1]) * g / np.where(norms > 0, norms, 1)


class DoubledBGN(SimpleBGN):
    def backward(self, g):
        return 2 * super().backward(g)  # BUG: off by a constant factor


SETS_GRADS = "backward twice gives the same result: it sets grads in place, never accumulates"


def _failure(check, make_layer, **kwargs) -> CheckFailure:
    with pytest.raises(CheckFailure) as info:
        check(make_layer, seed=0, **kwargs)
    assert isinstance(info.value, AssertionError)
    return info.value


# -- check_layer --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_layer, kwargs",
    [
        (lambda f: Softplus(), {"bound": 6.0}),
        (lambda f: Affine(f, 3), {}),
        (lambda f: SimpleBatchNorm(f), {"batch_statistics": True}),
        (lambda f: tb.ReLU(), {"kinks": [0.0]}),
    ],
    ids=["Softplus", "Affine", "SimpleBatchNorm", "ReLU"],
)
def test_check_layer_passes_correct_user_written_layers(make_layer, kwargs):
    check_layer(make_layer, **kwargs)


def test_wrong_derivative_fails_finite_differences_side_by_side():
    failure = _failure(check_layer, lambda f: WrongDerivativeSoftplus())
    assert failure.property == "backward matches central finite differences (training mode)"
    message = str(failure)
    assert message.startswith(f"{failure.layer} fails the property: {failure.property}")
    assert "WrongDerivativeSoftplus" in failure.layer
    assert "dL/dx" in message and "mine" in message and "numeric" in message
    assert failure.example["x"].shape == (1, 1)  # shrunk: one number shows the bug


def test_missing_batchnorm_variance_term_fails():
    failure = _failure(check_layer, lambda f: NoVarianceTermBatchNorm(f), batch_statistics=True)
    assert failure.property == "backward matches central finite differences (training mode)"
    assert "dL/dx" in str(failure)
    assert failure.example["x"].shape[0] == 2  # the smallest batch BatchNorm allows


def test_batch_statistics_must_be_declared():
    failure = _failure(check_layer, lambda f: SimpleBatchNorm(f))
    assert failure.property == "training and evaluation forward agree (no batch statistics)"
    assert "batch_statistics=True" in str(failure)


def test_gradients_that_accumulate_across_calls_fail():
    failure = _failure(check_layer, lambda f: AccumulatingAffine(f, 3))
    assert (
        failure.property
        == "backward twice gives the same result: it sets grads in place, never accumulates"
    )


def test_gradients_replaced_by_new_arrays_fail():
    failure = _failure(check_layer, lambda f: ReplacingAffine(f, 3))
    assert (
        failure.property
        == "backward twice gives the same result: it sets grads in place, never accumulates"
    )
    assert "views" in str(failure)


def test_backward_before_forward_must_raise():
    failure = _failure(check_layer, lambda f: UncheckedSoftplus())
    assert failure.property == "backward before forward raises StateError naming the layer"
    assert "_check_grad" in str(failure)


def test_float32_parameters_are_reported():
    failure = _failure(check_layer, lambda f: tb.Dense(f, 2))  # tinybgn's default is float32
    assert "float64" in failure.property and "dtype=np.float64" in str(failure)


def test_relu_without_its_kink_declared_fails_at_the_kink():
    failure = _failure(check_layer, lambda f: tb.ReLU())
    assert "finite differences" in failure.property
    assert np.any(failure.example["x"] == 0)


def test_a_bias_gradient_from_one_sample_shrinks_to_a_batch_of_two():
    class FirstSampleBias(tb.Dense):
        def backward(self, delta):
            grad_x = super().backward(delta)
            self.grads["b"][...] = delta[0]  # BUG: eq. (2) sums over the batch
            return grad_x

    failure = _failure(check_layer, lambda f: FirstSampleBias(f, 3, dtype=np.float64))
    assert failure.example["x"].shape == (2, 1)
    assert "grads['b']" in str(failure)


def test_a_layer_that_raises_is_reported_as_a_failed_property():
    class Broken(Softplus):
        def backward(self, grad):
            raise ValueError("not written yet")

    failure = _failure(check_layer, lambda f: Broken())
    assert "ValueError: not written yet" in str(failure)


def test_tolerances_can_be_given():
    # A derivative off by 1e-3 relative is caught by the default rtol and accepted by rtol=1e-2.
    class SlightlyOff(Softplus):
        def f_prime(self):
            return super().f_prime() * (1 + 1e-3)

    _failure(check_layer, lambda f: SlightlyOff())
    check_layer(lambda f: SlightlyOff(), rtol=1e-2, seed=0)


# -- check_bgn_like -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_layer, kwargs",
    [
        (lambda d: tb.BGN(), {}),
        (lambda d: tb.BGN(scope="sample"), {"scope": "sample"}),
        (lambda d: tb.BGN(kappa=2.5), {"kappa": 2.5}),
        (lambda d: SimpleBGN(), {}),
        (lambda d: PerSampleBGN(), {"scope": "sample"}),
    ],
    ids=["BGN", "BGN-sample", "BGN-kappa", "SimpleBGN", "PerSampleBGN"],
)
def test_check_bgn_like_passes_bgn_and_correct_variants(make_layer, kwargs):
    check_bgn_like(make_layer, **kwargs)


@pytest.mark.parametrize("make_layer", [lambda d: PerSampleBGN(), lambda d: tb.BGN(scope="sample")])
def test_per_sample_normalisation_fails_when_the_paper_batch_norm_is_asked_for(make_layer):
    failure = _failure(check_bgn_like, make_layer)
    assert failure.property.startswith(("eq. (5)", "eq. (8)"))


def test_per_sample_normalisation_shrinks_to_two_samples():
    failure = _failure(check_bgn_like, lambda d: PerSampleBGN())
    assert failure.property == "eq. (5): BGN_b(g) = kappa g / ||g||"
    assert failure.example["g"].shape[0] == 2
    assert "mine" in str(failure) and "kappa" in str(failure)


def test_bgn_off_by_a_constant_factor_fails():
    failure = _failure(check_bgn_like, lambda d: DoubledBGN())
    assert failure.property == "eq. (5): BGN_b(g) = kappa g / ||g||"


def test_a_wrong_kappa_fails():
    assert "eq. (5)" in _failure(check_bgn_like, lambda d: tb.BGN(kappa=2.0)).property


def test_a_wrong_n_K_fails_eq8():
    class WrongNK(tb.BGN):
        def backward(self, g):
            out = super().backward(g)
            self.n_K = self.g_norm  # BUG: eq. (8) divides by kappa
            return out

    assert _failure(check_bgn_like, lambda d: WrongNK()).property.startswith("eq. (8)")


def test_a_forward_that_is_not_the_identity_fails_eq4():
    class ScalingBGN(SimpleBGN):
        def forward(self, x, training=True):
            return 2 * super().forward(x, training)  # BUG: eq. (4) is the identity

    failure = _failure(check_bgn_like, lambda d: ScalingBGN())
    assert failure.property == "eq. (4): forward is the identity"
    assert failure.example["x"].shape == (1, 1)


# -- strategies ---------------------------------------------------------------------------------
@given(v=floats(bound=3.0, kinks=[0.0, 1.0]))
def test_floats_stay_in_bounds_and_off_the_kinks(v):
    assert -3.0 <= v <= 3.0 and np.isfinite(v)
    assert abs(v) >= KINK_MARGIN and abs(v - 1.0) >= KINK_MARGIN


@given(x=batches(min_rows=2, max_rows=4, max_cols=3, kinks=[0.0]))
def test_batches_are_float64_of_the_asked_shapes(x):
    assert x.dtype == np.float64 and 2 <= x.shape[0] <= 4 and 1 <= x.shape[1] <= 3
    assert np.all(np.abs(x) >= KINK_MARGIN) and np.all(np.abs(x) <= 2.0)


@given(dy=upstream_gradients((3, 2)))
def test_upstream_gradients_are_generic(dy):
    assert dy.shape == (3, 2) and np.all(np.isfinite(dy))
    assert len(np.unique(dy)) == dy.size  # never all ones, nor any other repeated value


def test_floats_with_no_room_between_kinks_is_an_error():
    with pytest.raises(ValueError, match="clear of kinks"):
        floats(bound=1e-3, kinks=[0.0])


# -- packaging ----------------------------------------------------------------------------------
def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_importing_tinybgn_does_not_import_hypothesis():
    done = _python("import sys, tinybgn; print('hypothesis' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_without_hypothesis_the_import_error_names_the_extra():
    done = _python("import sys; sys.modules['hypothesis'] = None; import tinybgn.testing")
    assert done.returncode != 0
    assert "ImportError" in done.stderr and "tinybgn[test]" in done.stderr
