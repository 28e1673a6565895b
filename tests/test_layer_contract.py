"""One contract, checked once for every layer class (STYLE.md, item 2).

``test_every_layer_passes_check_layer`` runs :func:`tinybgn.testing.check_layer` on every
differentiable layer: the contract of tinybgn/layer.py (shapes, ``grads`` keys = ``params`` keys,
backward sets rather than accumulates, backward before forward raises) together with finite
differences in training and evaluation mode. BGN's contract is checked by
:func:`tinybgn.testing.check_bgn_like` in test_bgn.py. The fixed-example tests below cover what
those checks do not: float32, and the wording of tinybgn's own error messages.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinybgn import BGN, BatchNorm, Dense, ReLU, Sigmoid, Tanh
from tinybgn.errors import ShapeError, StateError
from tinybgn.testing import check_layer

FACTORIES = {
    "Dense": lambda dtype: Dense(5, 3, rng=np.random.default_rng(0), dtype=dtype),
    "ReLU": lambda dtype: ReLU(),
    "Sigmoid": lambda dtype: Sigmoid(),
    "Tanh": lambda dtype: Tanh(),
    "BatchNorm": lambda dtype: BatchNorm(5, dtype=dtype),
    "BGN": lambda dtype: BGN(),
    "BGN(sample)": lambda dtype: BGN(scope="sample"),
}
ALL = pytest.mark.parametrize("name", FACTORIES)


def _run(layer, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 5)).astype(dtype)
    y = layer.forward(x)
    dy = rng.normal(size=y.shape).astype(dtype)
    return x, y, dy


#: make_layer(features) and check_layer's options, for every layer in FACTORIES but BGN
CHECK_LAYER = {
    "Dense": (lambda f: Dense(f, 3, rng=np.random.default_rng(f), dtype=np.float64), {}),
    "ReLU": (lambda f: ReLU(), {"kinks": [0.0], "bound": 4.0}),  # eq. (6), off its kink
    # |z| <= 4: the finite difference's own rounding error, eps * |f| / (h |f'(z)|), stays below
    # 1e-7 there; deeper in tanh's tail (f'(8) = 4.5e-7) it is the numeric side that fails.
    "Sigmoid": (lambda f: Sigmoid(), {"bound": 4.0}),
    "Tanh": (lambda f: Tanh(), {"bound": 4.0}),
    "BatchNorm": (lambda f: BatchNorm(f, dtype=np.float64), {"batch_statistics": True}),
}


def test_every_layer_is_checked():
    assert set(CHECK_LAYER) | {"BGN", "BGN(sample)"} == set(FACTORIES)


@pytest.mark.parametrize("name", CHECK_LAYER)
def test_every_layer_passes_check_layer(name):
    make_layer, options = CHECK_LAYER[name]
    check_layer(make_layer, **options)


@ALL
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_returns_the_input_shape_and_keeps_the_dtype(name, dtype):
    layer = FACTORIES[name](dtype)
    x, y, dy = _run(layer, dtype)
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    assert y.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype for g in layer.grads.values())


@ALL
def test_backward_before_forward_raises_an_error_naming_the_layer(name):
    layer = FACTORIES[name](np.float64)
    with pytest.raises(StateError, match=r"backward\(\) called before forward\(\)") as info:
        layer.backward(np.ones((4, 3)))
    assert repr(layer) in str(info.value)


@ALL
def test_gradient_of_the_wrong_shape_raises_an_error_naming_the_layer(name):
    layer = FACTORIES[name](np.float64)
    _, y, _ = _run(layer)
    with pytest.raises(ShapeError, match="gradient has shape") as info:
        layer.backward(np.ones((y.shape[0] + 1, y.shape[1])))
    assert repr(layer) in str(info.value)


@ALL
@pytest.mark.parametrize("bad_shape", [(0, 5), (5,), (2, 3, 5)])
def test_bad_input_shapes_raise_an_error_naming_the_layer(name, bad_shape):
    layer = FACTORIES[name](np.float64)
    with pytest.raises(ShapeError) as info:
        layer.forward(np.ones(bad_shape))
    assert repr(layer) in str(info.value)


@pytest.mark.parametrize("name", ["Dense", "BatchNorm"])
def test_wrong_number_of_features_is_reported(name):
    layer = FACTORIES[name](np.float64)
    with pytest.raises(ShapeError, match="expected 5 features"):
        layer.forward(np.ones((4, 6)))
