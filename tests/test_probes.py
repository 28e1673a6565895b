"""Probes: ||delta|| and ||grad_W L|| per Dense layer (Figures 1-2) and weight change (Figure 3)."""

from __future__ import annotations

import numpy as np
import pytest

import tinybgn
from tinybgn.probes import (
    EpochMonitor,
    ProbeError,
    adam_second_moment,
    bgn_proportionality,
    dead_relu_fraction,
    dense_weights,
    gradient_norms,
    update_size,
    weight_change,
    with_bgn,
    without_bgn,
)

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


# -- mechanism quantities (issue 12) ---------------------------------------------------------------
def _small(activation="relu", **kw):
    return tinybgn.mlp(hidden=(64,) * 6, activation=activation, seed=1, **kw)


def test_update_size_is_the_relative_frobenius_change_per_layer():
    net = _small()
    before = dense_weights(net)
    dense = [l for l in net.layers if isinstance(l, tinybgn.Dense)]
    dense[0].W[...] *= 3.0  # ||3W - W|| / ||W|| = 2
    dense[2].W[...] += 0.5 * before[2]  # 0.5
    size = update_size(before, net)
    assert size[0] == pytest.approx(2.0, rel=1e-6)
    assert size[2] == pytest.approx(0.5, rel=1e-6)
    assert np.all(np.delete(size, [0, 2]) == 0)
    with pytest.raises(ValueError, match="architectures"):
        update_size(before[:-1], net)


@pytest.mark.parametrize("coalesced", [True, False])
def test_adam_sqrt_v_hat_after_one_step_is_the_gradient_magnitude(coalesced):
    # After one step v = (1 - beta2) g^2 and v_hat = v / (1 - beta2) = g^2: sqrt(v_hat) = |g|.
    net = _small()
    pairs = net.parameters()
    if not coalesced:  # a reversed list does not tile the flat buffer: one state array each
        pairs = pairs[::-1]
    opt = tinybgn.Adam(pairs, lr=1e-3, eps=1e-7)
    assert (len(opt.pairs) == 1) == coalesced
    dense = [l for l in net.layers if isinstance(l, tinybgn.Dense)]
    scales = [10.0 ** -(k + 4) for k in range(len(dense))]  # 1e-4, 1e-5, ... layer by layer
    scales[-1] = 0.0  # a layer that gets no gradient at all
    for layer, g in zip(dense, scales, strict=True):
        layer.grads["W"][...] = g
        layer.grads["b"][...] = 1.0  # must not leak into W's numbers
    opt.step()
    found = adam_second_moment(opt, net)
    np.testing.assert_allclose(found["sqrt_v_hat_median"], scales, rtol=1e-5)
    assert found["frac_sqrt_v_hat_below_eps"] == [float(g < 1e-7) for g in scales]
    assert found["frac_v_hat_zero"] == [0.0] * 6 + [1.0]


def test_adam_second_moment_before_any_step_and_for_sgd():
    net = _small()
    opt = tinybgn.Adam(net.parameters())
    assert adam_second_moment(opt, net)["sqrt_v_hat_median"] == [None] * 7
    from tinybgn.optim import SGD

    with pytest.raises(ProbeError, match="SGD"):
        adam_second_moment(SGD(net.parameters(), lr=0.1), net)


def test_dead_relu_fraction_counts_units_silent_on_the_whole_batch(batch):
    net = _small()
    dense = [l for l in net.layers if isinstance(l, tinybgn.Dense)]
    dense[1].b[:32] = -1e6  # half of layer 2's units can never fire,
    dense[1].b[32:] = 1e6  # the other half always fires
    dense[3].b[...] = -1e6  # every unit of layer 4
    dead = dead_relu_fraction(net, batch[0])
    assert len(dead) == 6
    assert dead[1] == pytest.approx(0.5) and dead[3] == 1.0
    assert dead[0] < 0.5  # a fresh Glorot layer: most units fire for some example
    assert dead_relu_fraction(_small("tanh"), batch[0]) == []


def test_dead_relu_probe_leaves_batchnorm_statistics_alone(batch):
    net = _small(batchnorm=True)
    before = net.state_dict()
    dead_relu_fraction(net, batch[0])
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_eq9_bgn_deltas_are_per_layer_multiples_of_plain_deltas(batch, activation, batchnorm):
    net = _small(activation, batchnorm=batchnorm)
    for model in (net, with_bgn(net)):  # from a plain net and from a BGN net
        result = bgn_proportionality(model, *batch)
        assert len(result["cosine"]) == 7
        np.testing.assert_allclose(result["cosine"], 1.0, atol=1e-6)
        plain = gradient_norms(without_bgn(model), *batch)["delta"]
        normalised = gradient_norms(with_bgn(without_bgn(model)), *batch)["delta"]
        np.testing.assert_allclose(result["scale"], normalised / plain, rtol=1e-5)


def test_bgn_proportionality_would_catch_a_non_proportional_gradient(batch):
    # The cosine is a real test: deltas of two different networks are not proportional.
    from tinybgn.probes import dense_deltas

    a = dense_deltas(_small("tanh"), *batch)
    b = dense_deltas(tinybgn.mlp(hidden=(64,) * 6, activation="tanh", seed=2), *batch)
    cos = np.vdot(a[0], b[0]) / (np.linalg.norm(a[0]) * np.linalg.norm(b[0]))
    assert abs(cos) < 0.9


def test_dense_deltas_of_a_graph_run_from_the_stem_to_the_output(batch):
    from tinybgn.probes import dense_deltas

    x, y = batch
    net = tinybgn.residual_mlp(hidden=(64,) * 5, bgn=True, seed=0)
    deltas = dense_deltas(net, x, y)
    assert len(deltas) == 6  # stem + 4 blocks + the output layer
    _, dlogits = tinybgn.softmax_cross_entropy(net.forward(x), y)
    np.testing.assert_allclose(deltas[-1], dlogits, rtol=1e-6)  # the output Dense's delta
    # branch BGN: every hidden Dense's delta has norm kappa = 8 (eq. 7)
    np.testing.assert_allclose([np.linalg.norm(d) for d in deltas[:-1]], 8.0, rtol=1e-5)
    # the order, input to output, and each delta belongs to its layer: the backward pass that
    # dense_deltas ran left every Dense's grad_b = sum over the batch of its delta (eq. 3)
    dense = [layer for layer in net.layers if isinstance(layer, tinybgn.Dense)]
    assert len(dense) == len(deltas)
    for layer, delta in zip(dense, deltas, strict=True):
        np.testing.assert_allclose(delta.sum(axis=0), layer.grads["b"], rtol=1e-5, atol=1e-7)


def test_epoch_monitor_records_json_able_quantities_every_epoch(batch):
    import json

    x, y = batch
    net = _small()
    opt = tinybgn.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    monitor = EpochMonitor(net, opt, x[:16], y[:16])
    from tinybgn.train import train

    train(net, x, y, x, y, epochs=2, batch_size=8, optimizer=opt, progress=monitor)
    assert [e["epoch"] for e in monitor.history] == [1, 2]
    for entry in monitor.history:
        assert len(entry["update_size"]) == len(entry["delta"]) == 7
        assert len(entry["dead_relu"]) == 6
        assert len(entry["sqrt_v_hat_median"]) == 7 and entry["adam_eps"] == 1e-7
        assert all(u > 0 for u in entry["update_size"])
    json.dumps(monitor.history)


def test_training_monitor_hook_keeps_the_previous_weights_per_model(batch):
    from tinybgn.probes import snapshot_weights, training_monitor

    x, y = batch
    net = _small()
    opt = tinybgn.Adam(net.parameters(), lr=1e-3)
    first = training_monitor(net, opt, x, y, None)
    assert first["update_size"] == [None] * 7  # no snapshot before training
    dense = [l for l in net.layers if isinstance(l, tinybgn.Dense)]
    dense[0].W[...] *= 2.0
    second = training_monitor(net, opt, x, y, first)
    assert second["update_size"][0] == pytest.approx(1.0, rel=1e-6)
    assert second["update_size"][1:] == [0.0] * 6
    other = _small()
    snapshot_weights(other)
    assert training_monitor(other, opt, x, y, None)["update_size"] == [0.0] * 7


def test_plain_sigmoid_deltas_go_subnormal_and_lose_proportionality(batch):
    # 90 sigmoid layers shrink delta by ~4 per layer: near the input the plain float32 backprop
    # sinks into subnormals (< 1.2e-38) and the eq. 9 direction is lost there, while every
    # layer whose plain delta is exactly representable keeps cosine 1.
    net = tinybgn.mlp(activation="sigmoid", bgn=True, seed=0)
    result = bgn_proportionality(net, *batch)
    sub = np.array(result["plain_subnormal"])
    cos = np.array([np.nan if c is None else c for c in result["cosine"]])
    assert np.any(sub > 0)
    normal = (sub == 0) & np.isfinite(cos)
    np.testing.assert_allclose(cos[normal], 1.0, atol=1e-6)
    assert np.nanmin(cos[sub > 0]) < 0.999


def test_dense_weights_of_a_graph_and_chain_only_rebuilds():
    import tinybgn as tb
    from tinybgn.probes import ProbeError, dense_weights, with_bgn, without_bgn

    net = tb.residual_mlp(6, [5] * 3, 3, "relu", bgn=True, seed=0)
    weights = dense_weights(net)
    assert [w.shape for w in weights] == [(5, 6), (5, 5), (5, 5), (3, 5)]
    for rebuild in (with_bgn, without_bgn):
        with pytest.raises(ProbeError, match="Sequential"):
            rebuild(net)
