"""Probes: ||delta|| and ||grad_W L|| per Dense layer (Figures 1-2) and weight change (Figure 3)."""

from __future__ import annotations

import numpy as np
import pytest

import tinybgn
from tinybgn.probes import dense_weights, gradient_norms, weight_change, with_bgn

KAPPA = np.sqrt(64)  # the paper's kappa = sqrt(d) for 64-unit layers


@pytest.fixture(scope="module")
def batch():
    """An MNIST-like batch: 32 'images' with pixels in [0, 1], 10 classes."""
    rng = np.random.default_rng(0)
    return rng.random((32, 784), dtype=np.float32), rng.integers(0, 10, 32)


def test_fig1_plain_sigmoid_delta_decays_exponentially_towards_the_input(batch):
    norms = gradient_norms(tinybgn.mlp(activation="sigmoid"), *batch)
    delta = norms["delta"]
    assert len(delta) == 91  # 90 hidden Dense layers + the output layer
    hidden = delta[:90]
    nonzero = hidden[hidden > 0]
    # sigma' <= 1/4 at every layer: each step towards the input shrinks ||delta||, steadily ...
    steps = np.diff(np.log(nonzero))
    assert np.mean(steps > 0) > 0.95, "||delta|| should grow from input to output"
    # ... so that 90 layers lose far more than float32's range (many underflow to exactly 0).
    assert hidden[0] < 1e-30 * hidden[-1]
    assert delta[-1] > 0.01


def test_fig1_with_bgn_every_hidden_delta_has_norm_kappa(batch):
    for activation in ("sigmoid", "relu", "tanh"):
        norms = gradient_norms(tinybgn.mlp(activation=activation, bgn=True), *batch)
        np.testing.assert_allclose(norms["delta"][:90], KAPPA, rtol=1e-5)


def test_output_layer_delta_is_the_loss_gradient(batch):
    net = tinybgn.mlp(hidden=(64,) * 5, activation="tanh")
    norms = gradient_norms(net, *batch)
    _, dlogits = tinybgn.softmax_cross_entropy(net.forward(batch[0]), batch[1])
    assert norms["delta"][-1] == pytest.approx(np.linalg.norm(dlogits), rel=1e-6)
    np.testing.assert_array_equal(norms["layer"], np.arange(1, 7))
    assert norms["index"].tolist() == [
        i for i, l in enumerate(net.layers) if isinstance(l, tinybgn.Dense)
    ]


def test_weight_norm_is_the_norm_of_the_dense_weight_gradient(batch):
    net = tinybgn.mlp(hidden=(64,) * 4, activation="relu", batchnorm=True, bgn=True)
    norms = gradient_norms(net, *batch)
    dense = [l for l in net.layers if isinstance(l, tinybgn.Dense)]
    expected = [np.linalg.norm(l.grads["W"].astype(np.float64)) for l in dense]
    np.testing.assert_allclose(norms["weight"], expected, rtol=1e-12)


def test_probing_leaves_batchnorm_running_statistics_alone(batch):
    net = tinybgn.mlp(hidden=(64,) * 4, batchnorm=True)
    before = net.state_dict()
    gradient_norms(net, *batch)
    after = net.state_dict()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_with_bgn_keeps_the_forward_pass_and_flattens_the_deltas(batch):
    net = tinybgn.mlp(hidden=(64,) * 20, activation="sigmoid", seed=2)
    twin = with_bgn(net)
    assert sum(isinstance(l, tinybgn.BGN) for l in twin.layers) == 20
    np.testing.assert_array_equal(net.forward(batch[0]), twin.forward(batch[0]))
    np.testing.assert_allclose(gradient_norms(twin, *batch)["delta"][:20], KAPPA, rtol=1e-5)
    assert not any(isinstance(l, tinybgn.BGN) for l in net.layers)  # the original is unchanged


def test_weight_change_is_the_mean_absolute_change_per_dense_layer():
    net = tinybgn.mlp(hidden=(8,) * 3, in_features=5, out_features=2)
    w0 = dense_weights(net)
    net.layers[2].W[...] += 0.5  # second Dense layer
    net.layers[4].W[0, 0] -= 2.0  # third: one entry of 8 x 8
    change = weight_change(w0, net)
    np.testing.assert_allclose(change, [0.0, 0.5, 2.0 / 64, 0.0], rtol=1e-6)
    # snapshots may also be state dicts
    np.testing.assert_allclose(weight_change(w0, net.state_dict()), change)


def test_weight_change_rejects_different_architectures():
    a = tinybgn.mlp(hidden=(8,) * 3, in_features=5, out_features=2)
    b = tinybgn.mlp(hidden=(8,) * 2, in_features=5, out_features=2)
    with pytest.raises(ValueError, match="different architectures"):
        weight_change(a, b)
