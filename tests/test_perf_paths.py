"""The shortcuts taken for speed give the same numbers as the plain formulas.

* ``Sequential.backward(grad, input_grad=False)`` (training loops): the first layer may skip
  dL/d(input); every parameter gradient must be bit-for-bit what the full backward gives.
* ``batch_sum`` / ``batch_mean`` (a BLAS matrix-vector product with a row of ones) equal
  ``a.sum(axis=0)`` / ``a.mean(axis=0)`` up to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinybgn as tb
from tinybgn.layer import batch_mean, batch_sum


def _step(model, x, labels, **kwargs):
    loss, dlogits = tb.softmax_cross_entropy(model.forward(x), labels)
    dx = model.backward(dlogits, **kwargs)
    return dx, model.flat_grads.copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batchnorm, bgn", [(False, False), (True, True)])
def test_backward_without_input_grad_gives_the_same_parameter_gradients(dtype, batchnorm, bgn):
    rng = np.random.default_rng(0)
    model = tb.mlp(20, [8, 8, 8], 10, "relu", batchnorm, bgn, dtype=dtype)
    x, labels = rng.standard_normal((6, 20)).astype(dtype), rng.integers(0, 10, 6)
    dx, full = _step(model, x, labels)
    skipped, fast = _step(model, x, labels, input_grad=False)
    assert skipped is None and dx.shape == x.shape
    np.testing.assert_array_equal(fast, full)
    assert model.layers[0].needs_input_grad is True  # reset for the next caller
    dx_again, _ = _step(model, x, labels)
    np.testing.assert_array_equal(dx_again, dx)


def test_input_grad_flag_is_reset_when_backward_raises():
    model = tb.mlp(4, [3], 2)
    model.forward(np.ones((2, 4), np.float32))
    with pytest.raises(tb.ShapeError):
        model.backward(np.ones((2, 5), np.float32), input_grad=False)
    assert model.layers[0].needs_input_grad is True


def test_tracing_ignores_input_grad_false():
    model = tb.mlp(4, [3], 2)
    model.forward(np.ones((2, 4), np.float32))
    steps = []
    dx = model.backward(np.ones((2, 2), np.float32), trace=steps.append, input_grad=False)
    assert dx is not None and dx.shape == (2, 4) and len(steps) == len(model.layers)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("n", [1, 2, 7, 32, 128])
def test_batch_sum_and_mean_match_numpy(dtype, rtol, n):
    a = np.random.default_rng(n).standard_normal((n, 5)).astype(dtype) + 3
    np.testing.assert_allclose(batch_sum(a), a.sum(axis=0, dtype=np.float64), rtol=rtol)
    np.testing.assert_allclose(batch_mean(a), a.mean(axis=0, dtype=np.float64), rtol=rtol)
    assert batch_sum(a).dtype == dtype and batch_mean(a).dtype == dtype
    out = np.empty(5, dtype)
    assert batch_sum(a, out=out) is out
