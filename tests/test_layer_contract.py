"""One contract, checked once for every layer class (STYLE.md, item 2)."""

from __future__ import annotations

import numpy as np
import pytest

from tinybgn import BGN, BatchNorm, Dense, ReLU, Sigmoid, Tanh
from tinybgn.errors import ShapeError, StateError

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


@ALL
def test_params_and_grads_have_the_same_keys_and_shapes(name):
    layer = FACTORIES[name](np.float64)
    assert layer.params.keys() == layer.grads.keys()
    for k in layer.params:
        assert layer.params[k].shape == layer.grads[k].shape
        assert layer.params[k].dtype == layer.grads[k].dtype


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
def test_backward_sets_gradients_instead_of_accumulating(name):
    layer = FACTORIES[name](np.float64)
    _, _, dy = _run(layer)
    dx1 = layer.backward(dy).copy()
    grads1 = {k: g.copy() for k, g in layer.grads.items()}
    dx2 = layer.backward(dy)
    assert np.array_equal(dx1, dx2)
    for k, g in layer.grads.items():
        assert np.array_equal(g, grads1[k]), k
        assert np.any(g), f"{name}.grads[{k!r}] is all zero: the test would not see accumulation"


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
