"""Analytic backward vs central finite differences (float64).

Tolerance: with h = 1e-6, central differences err by O(h^2 f''') + O(eps_64 |L| / h), i.e.
about 1e-10 relative for the bounded inputs used here; a wrong backward errs by O(1). We
require 1e-6, far from both. Every layer class is also checked, contract and finite differences
together, by :func:`tinybgn.testing.check_layer` in test_layer_contract.py (ReLU, sigmoid and
tanh: eq. 6; BatchNorm in training and evaluation mode). BGN is absent on purpose: its backward
is not the derivative of its forward (see test_bgn.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybgn import BatchNorm, Dense, gradcheck, mlp, softmax_cross_entropy
from tinybgn.gradcheck import numerical_gradient, rel_error, rounding_floor
from tinybgn.testing import batches, check_layer

TOL = 1e-6


def _random_dense(in_f: int, out_f: int, seed: int) -> Dense:
    layer = Dense(in_f, out_f, rng=np.random.default_rng(seed), dtype=np.float64)
    layer.params["b"][...] = np.random.default_rng(seed + 1).normal(size=out_f)  # non-zero b
    return layer


@pytest.mark.parametrize("out_f", range(1, 7))
def test_eqs1_to_3_dense_backward_matches_finite_differences(out_f):
    """check_layer draws N, in_features (1-6), x, W, b (non-zero) and dy; out_f is ours."""
    check_layer(lambda in_f: Dense(in_f, out_f, dtype=np.float64), rtol=TOL)


@given(data=st.data(), seed=st.integers(0, 2**16))
def test_dense_backward_with_given_upstream_gradient(data, seed):
    x = data.draw(batches())
    layer = _random_dense(x.shape[1], 3, seed)
    dy = data.draw(batches(shape=(x.shape[0], 3)))
    result = gradcheck(layer, x, dy)
    assert result.worst < TOL or np.allclose(dy, 0), str(result)


@given(x=batches(), seed=st.integers(0, 2**16))
def test_batchnorm_evaluation_backward_matches_finite_differences(x, seed):
    rng = np.random.default_rng(seed)
    layer = BatchNorm(x.shape[1], dtype=np.float64)
    layer.buffers["running_mean"][...] = rng.normal(size=x.shape[1])
    layer.buffers["running_var"][...] = rng.uniform(0.1, 2, size=x.shape[1])
    layer.params["gamma"][...] = rng.normal(size=x.shape[1])
    result = gradcheck(layer, x, seed=seed, training=False)
    assert result.worst < TOL, str(result)


@given(logits=batches(max_cols=8), data=st.data())
def test_softmax_cross_entropy_gradient_matches_finite_differences(logits, data):
    n, c = logits.shape
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    z = logits * 5
    _, dz = softmax_cross_entropy(z, labels)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(z, labels)[0], z)
    # the loss sums terms as large as max|z| (log-sum-exp), which sets the rounding floor
    floor = rounding_floor(z.size, float(np.max(np.abs(z))))
    assert rel_error(dz, numeric, floor) < TOL


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("batchnorm", [False, True])
@given(seed=st.integers(0, 2**16))
def test_whole_network_without_bgn_matches_finite_differences(activation, batchnorm, seed):
    """Every parameter and the input of a 4-hidden-layer net, through the loss."""
    rng = np.random.default_rng(seed)
    model = mlp(5, [4, 3, 4, 3], 3, activation, batchnorm, seed=seed, dtype=np.float64)
    for layer in model.layers:  # non-zero biases: with b = 0 a dead ReLU unit sits exactly
        if isinstance(layer, Dense):  # on the kink z = 0, where no derivative exists
            layer.params["b"][...] = rng.normal(size=layer.b.shape)
    x = rng.normal(size=(4, 5))
    labels = rng.integers(0, 3, size=4)
    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    dx = model.backward(dlogits).copy()
    analytic = {name: g.copy() for name, _, g in model.named_parameters()}

    def loss() -> float:
        return softmax_cross_entropy(model.forward(x), labels)[0]

    # Deep in a sigmoid net the first layers' gradients vanish (~1e-5) and the numeric side's
    # own rounding error becomes 1e-6 of them: see gradcheck.rounding_floor.
    scale = abs(loss())

    def check(name, analytic_grad, array):
        floor = rounding_floor(array.size, scale)
        error = rel_error(analytic_grad, numerical_gradient(loss, array), floor=floor)
        assert error < TOL, f"{name}: relative error {error:.2e}"

    check("x", dx, x)
    for name, p, _ in model.named_parameters():
        check(name, analytic[name], p)
