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
from tinybgn.testing import CheckFailure, check_layer, shapes

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


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
def test_softplus_passes_check_layer():
    # The layer contract (output and dL/dx shapes, grads keys = params keys, backward sets and
    # never accumulates, backward before forward raises), finite differences, and training ==
    # evaluation, for inputs in [-6, 6]. There f' = sigmoid(z) >= sigmoid(-6) ~ 2.5e-3 and dy is
    # standard normal, so the gradient is well above the ~1e-10 rounding floor of the finite
    # differences: 1e-7 is a safe bound (truncation h^2 f''' / 6 ~ 1e-13).
    check_layer(lambda features: Softplus(), bound=6.0, rtol=1e-7, max_examples=60, seed=0)


def test_softplus_has_no_trainable_arrays():
    layer = Softplus()
    assert layer.params == {} and layer.grads == {}


@PROPERTY
@given(
    z=shapes(max_rows=5, max_cols=5).flatmap(
        lambda shape: arrays(
            np.float64, shape, elements=st.floats(-1000.0, 1000.0, allow_nan=False)
        )
    )
)
def test_softplus_is_finite_non_negative_and_stable(z):
    with np.errstate(over="raise", invalid="raise"):  # an overflowing exp would raise
        y = Softplus().forward(z)
    assert np.all(np.isfinite(y))
    assert np.all(y >= np.maximum(z, 0))  # log(1 + e^z) >= max(z, 0), so never negative
    # log(1 + e^z) > 0 mathematically, but in float64 it is 0 where e^z underflows (z < -745):
    with np.errstate(under="ignore", over="ignore"):  # e^1000 = inf is still > 0
        representable = np.exp(z) > 0
    assert np.all(y[representable] > 0)
    assert np.all(y[~representable] == 0)


def test_softplus_of_minus_1000_is_exactly_zero_in_float64():
    assert Softplus().forward(np.array([[-1000.0]]))[0, 0] == 0.0


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
    n_j = dict(enumerate(ns, start=1))  # the paper's numbering: BGN j = 1 .. N
    for K, (plain, normed) in enumerate(zip(deltas[False], deltas[True], strict=True), start=1):
        assume(np.linalg.norm(plain) > 0)
        scale = np.prod([1 / n_j[j] for j in range(K, len(ns) + 1)])  # BGN K .. N above Dense K
        assert np.linalg.norm(normed - scale * plain) / np.linalg.norm(normed) < 1e-9


# -- exercise 3: the property finds and shrinks a bug --------------------------------------------
def test_check_layer_catches_and_shrinks_the_half_wrong_softplus():
    with pytest.raises(CheckFailure) as info:
        check_layer(lambda features: HalfWrongSoftplus(), bound=6.0, rtol=1e-7, seed=0)
    assert "finite differences" in info.value.property
    shrunk = info.value.example["x"]  # the minimal failing example
    assert shrunk.shape == (1, 1)  # one number is enough...
    assert shrunk[0, 0] <= 0  # ...and it must be where the bug lives, z <= 0
