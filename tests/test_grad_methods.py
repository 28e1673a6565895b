"""Gradient methods: each one's defining property (Yu et al. 2017, Pascanu et al. 2013, frozen
n_K), the factory, and their use inside ``train``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybgn import BGN, mlp, softmax_cross_entropy
from tinybgn.grad_methods import Clip, make_grad_method

# Gradient scales from vanishing to exploding (float64 nets, so no overflow in the sums).
SCALES = st.floats(-40, 40).map(lambda e: 10.0**e)


def _net(bgn=False, dtype=np.float64, seed=0):
    return mlp(6, [5, 5, 5], 3, "tanh", bgn=bgn, seed=seed, dtype=dtype)


def _backward(model, seed=0, n=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(model.dtype)
    _, dlogits = softmax_cross_entropy(model.forward(x), rng.integers(0, 3, n))
    model.backward(dlogits)


def _layer_norms(model):
    return [
        math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in layer.grads.values()))
        for layer in model.layers
        if layer.grads
    ]


def _global_norm(model):
    return math.sqrt(sum(float(np.sum(g**2)) for _, g in model.parameters()))


@given(scale=SCALES, seed=st.integers(0, 100))
def test_block_normalized_gives_every_layer_a_gradient_of_norm_one(scale, seed):
    model = _net()
    _backward(model, seed)
    for _, g in model.parameters():
        g *= scale  # vanishing or exploding: each layer's block still comes out with norm 1
    before = [g.copy() for _, g in model.parameters()]
    make_grad_method("block_normalized").apply(model)
    np.testing.assert_allclose(_layer_norms(model), 1.0, rtol=1e-12)
    # The direction within each layer is kept: W and b are divided by the same number.
    dense = model.layers[0]
    ratio = dense.grads["W"] / before[0]
    np.testing.assert_allclose(dense.grads["b"] / before[1], ratio.flat[0], rtol=1e-12)


def test_block_normalized_leaves_a_zero_layer_gradient_at_zero():
    model = _net()
    _backward(model)
    model.layers[0].grads["W"][...] = 0
    model.layers[0].grads["b"][...] = 0
    method = make_grad_method("block_normalized")
    method.apply(model)
    assert not model.layers[0].grads["W"].any() and method.last_norms[0] == 0
    np.testing.assert_allclose(_layer_norms(model)[1:], 1.0, rtol=1e-12)


@given(scale=SCALES, clip=st.floats(1e-3, 1e3))
def test_clip_bounds_the_global_norm_and_keeps_the_direction(scale, clip):
    model = _net()
    _backward(model)
    for _, g in model.parameters():
        g *= scale
    before = [g.copy() for _, g in model.parameters()]
    norm = _global_norm(model)
    Clip(clip).apply(model)
    after = [g for _, g in model.parameters()]
    if norm > clip:
        assert _global_norm(model) == pytest.approx(clip, rel=1e-12)
        factor = clip / norm
        for a, b in zip(after, before, strict=True):
            np.testing.assert_allclose(a, b * factor, rtol=1e-12)
    else:  # below the threshold: bit for bit unchanged
        for a, b in zip(after, before, strict=True):
            np.testing.assert_array_equal(a, b)


def test_clip_works_in_float32_without_overflow():
    model = _net(dtype=np.float32)
    _backward(model)
    for _, g in model.parameters():
        g *= np.float32(1e30)  # the sum of squares would overflow float32
    Clip(1.0).apply(model)
    assert _global_norm(model) == pytest.approx(1.0, rel=1e-5)


def test_frozen_bgn_keeps_the_initial_n_K_of_every_layer_across_steps():
    plain, frozen = _net(bgn=True), _net(bgn=True)
    _backward(plain, seed=0)  # the first batch at the initial weights, paper's BGN
    initial = [layer.n_K for layer in plain.layers if isinstance(layer, BGN)]

    method = make_grad_method("frozen_bgn")
    method.prepare(frozen)
    _backward(frozen, seed=0)
    assert method.n_K(frozen) == initial  # measured on the first batch, eq. (8)
    np.testing.assert_allclose(frozen.flat_grads, plain.flat_grads, rtol=1e-12)

    g_norms = []
    for step in range(1, 4):  # other batches, other weights: the scale stays the same
        for p, g in frozen.parameters():
            p -= 0.3 * g
        _backward(frozen, seed=step)
        bgns = [layer for layer in frozen.layers if isinstance(layer, BGN)]
        assert [b.n_K for b in bgns] == initial
        g_norms.append(bgns[0].g_norm)
    assert len(set(g_norms)) == 3  # ||g|| itself did vary; only the scale was frozen
    state = method.state_dict(frozen)
    assert state["n_K"] == initial


def test_frozen_bgn_backward_divides_by_the_constant():
    layer = BGN()
    layer.freeze_n_K(0.5)
    g = np.random.default_rng(0).normal(size=(3, 4))
    layer.forward(np.zeros((3, 4)))
    np.testing.assert_allclose(layer.backward(g), g / 0.5, rtol=1e-15)
    assert layer.n_K == 0.5 and layer.g_norm == pytest.approx(np.linalg.norm(g))


def test_frozen_bgn_state_restores_the_constants():
    model, other = _net(bgn=True), _net(bgn=True, seed=4)
    method = make_grad_method("frozen_bgn")
    method.prepare(model)
    _backward(model)
    state = method.state_dict(model)
    make_grad_method("frozen_bgn").load_state_dict(other, state)
    assert [b.fixed_n_K for b in other.layers if isinstance(b, BGN)] == state["n_K"]
    with pytest.raises(Exception, match="expected 3 values"):
        make_grad_method("frozen_bgn").load_state_dict(other, {**state, "n_K": [1.0]})


def test_factory_and_bad_arguments():
    assert make_grad_method("none").name == "none"
    assert make_grad_method("clip", clip_norm=2.0).clip_norm == 2.0
    with pytest.raises(ValueError, match="unknown gradient method 'adagrad'"):
        make_grad_method("adagrad")
    with pytest.raises(ValueError, match="takes no"):
        make_grad_method("block_normalized", clip_norm=1.0)
    with pytest.raises(ValueError, match="clip_norm must be positive"):
        make_grad_method("clip", clip_norm=0)
    with pytest.raises(ValueError, match="no BGN layers"):
        make_grad_method("frozen_bgn").prepare(_net(bgn=False))
    with pytest.raises(ValueError, match="scope='batch'"):
        BGN(scope="sample").freeze_n_K()
