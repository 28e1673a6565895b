"""Worked solution to lesson 9: property tests for a layer of your own (Softplus).

Run with ``pytest lessons/solutions/test_lesson09_softplus.py`` (it is also collected by a plain
``pytest`` run: the project's test paths include ``lessons/``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinybgn as tb
from tinybgn.activations import Activation

EPS = np.finfo(np.float64).eps
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FLOATS = st.floats(-6.0, 6.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def batch_of(n_min=1, n_max=5, d_min=1, d_max=5, elements=FLOATS):
    shapes = st.tuples(st.integers(n_min, n_max), st.integers(d_min, d_max))
    return shapes.flatmap(lambda shape: arrays(np.float64, shape, elements=elements))


class Softplus(Activation):
    """f(z) = log(1 + e^z), computed as logaddexp(0, z) (no overflow);  f'(z) = sigmoid(z)."""

    def f(self, z):
        return np.logaddexp(0.0, z)

    def f_prime(self):
        return 0.5 * (1.0 + np.tanh(0.5 * self.z))  # sigmoid, without overflow


class HalfWrongSoftplus(Softplus):
    """Exercise 3: a derivative that is right for z > 0 only."""

    def f_prime(self):
        return np.where(self.z > 0, super().f_prime(), 0.25)


# -- exercise 1: properties of Softplus ----------------------------------------------------------
@PROPERTY
@given(z=batch_of(), seed=st.integers(0, 2**16))
def test_softplus_matches_finite_differences(z, seed):
    # f' = sigmoid(z) >= sigmoid(-6) ~ 2.5e-3 here, and dy is standard normal, so the gradient
    # is well above the ~1e-10 rounding floor of the finite differences: 1e-7 is a safe bound
    # (truncation h^2 f''' / 6 ~ 1e-13).
    result = tb.gradcheck(Softplus(), z, seed=seed)
    assert result.worst < 1e-7, f"mine vs finite differences: {result}"


@PROPERTY
@given(z=batch_of(), seed=st.integers(0, 2**16))
def test_softplus_follows_the_layer_contract(z, seed):
    layer = Softplus()
    y = layer.forward(z)
    assert y.shape == z.shape
    assert layer.params == {} and layer.grads == {}  # no trainable arrays
    dy = np.random.default_rng(seed).standard_normal(y.shape)
    first = layer.backward(dy).copy()
    assert first.shape == z.shape
    assert np.array_equal(layer.backward(dy), first)  # backward sets, never accumulates


@PROPERTY
@given(z=batch_of(elements=st.floats(-1000.0, 1000.0, allow_nan=False)))
def test_softplus_is_finite_positive_and_stable(z):
    with np.errstate(over="raise", invalid="raise"):  # an overflowing exp would raise
        y = Softplus().forward(z)
    assert np.all(np.isfinite(y))
    assert np.all(y >= 0)  # > 0 mathematically; e^-1000 underflows to exactly 0
    assert np.all(y >= np.maximum(z, 0))  # log(1 + e^z) >= max(z, 0)


# -- exercise 2: eq. (9) with BatchNorm, as a property -------------------------------------------
@PROPERTY
@given(
    depth=st.integers(1, 5),
    width=st.integers(2, 10),
    activation=st.sampled_from(["relu", "sigmoid", "tanh"]),
    seed=st.integers(0, 2**16),
    n=st.integers(2, 8),
)
def test_eq9_holds_with_batchnorm(depth, width, activation, seed, n):
    rng = np.random.default_rng(seed)
    x, labels = rng.standard_normal((n, 5)), rng.integers(0, 3, n)
    deltas, ns = {}, []
    for bgn in (False, True):
        model = tb.mlp(
            in_features=5,
            hidden=(width,) * depth,
            out_features=3,
            activation=activation,
            batchnorm=True,
            bgn=bgn,
            seed=seed,
            dtype=np.float64,
        )
        _, dlogits = tb.softmax_cross_entropy(model.forward(x), labels)
        steps = []
        model.backward(dlogits, trace=steps.append)
        deltas[bgn] = [s.grad_in for s in steps if isinstance(s.layer, tb.Dense)][::-1]
        ns = [s.layer.n_K for s in steps if isinstance(s.layer, tb.BGN)][::-1]
    for K, (plain, normed) in enumerate(zip(deltas[False], deltas[True], strict=True)):
        assume(np.linalg.norm(plain) > 0)
        scale = np.prod([1 / v for v in ns[K:]])
        assert np.linalg.norm(normed - scale * plain) / np.linalg.norm(normed) < 1e-9


# -- exercise 3: the property finds and shrinks a bug --------------------------------------------
def test_property_catches_the_half_wrong_softplus():
    tried = []

    @PROPERTY
    @given(z=batch_of(), seed=st.integers(0, 2**16))
    def half_wrong_matches_finite_differences(z, seed):
        tried.append(z.copy())
        result = tb.gradcheck(HalfWrongSoftplus(), z, seed=seed)
        assert result.worst < 1e-7

    with pytest.raises(AssertionError):
        half_wrong_matches_finite_differences()
    shrunk = tried[-1]  # hypothesis replays the minimal failing example last
    assert shrunk.shape == (1, 1)  # one number is enough...
    assert shrunk[0, 0] <= 0  # ...and it must be where the bug lives, z <= 0
