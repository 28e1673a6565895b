"""Optimisers: saving and restoring state, the factory, Adam's tiny-eps path, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from tinybgn import mlp, softmax_cross_entropy
from tinybgn.errors import ShapeError, StateError
from tinybgn.optim import SGD, Adam, make_optimizer

KINDS = [("adam", {}), ("sgd", {}), ("momentum", {"momentum": 0.9})]


def _net(seed=0):
    return mlp(12, [8, 8], 3, "tanh", batchnorm=True, seed=seed)


def _steps(model, opt, n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = rng.normal(size=(8, 12)).astype(np.float32)
        y = rng.integers(0, 3, 8)
        _, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits)
        opt.step()


@pytest.mark.parametrize("name, kwargs", KINDS)
def test_every_optimizer_resumes_from_its_state_dict_bit_for_bit(name, kwargs):
    straight = _net()
    opt = make_optimizer(name, straight.parameters(), 0.05, **kwargs)
    _steps(straight, opt, 3, seed=1)
    model_state, opt_state = straight.state_dict(), opt.state_dict()
    assert opt_state["kind"] == name and opt_state["step"] == 3
    _steps(straight, opt, 4, seed=2)

    resumed = _net(seed=9)  # other weights: all must come from the saved states
    opt2 = make_optimizer(name, resumed.parameters(), 0.05, **kwargs)
    resumed.load_state_dict(model_state)
    opt2.load_state_dict(opt_state)
    _steps(resumed, opt2, 4, seed=2)
    np.testing.assert_array_equal(resumed.flat_params, straight.flat_params)
    assert opt2.t == opt.t == 7


def test_state_dict_is_a_copy():
    net = _net()
    opt = Adam(net.parameters())
    state = opt.state_dict()
    _steps(net, opt, 1)
    assert not state["arrays"]["m"][0].any() and state["step"] == 0


def test_load_state_dict_rejects_another_kind_other_settings_and_bad_arrays():
    net = _net()
    adam = Adam(net.parameters(), lr=0.01)
    _steps(net, adam, 1)
    state = adam.state_dict()
    with pytest.raises(StateError, match="'adam' optimiser, not 'momentum'"):
        SGD(net.parameters(), lr=0.01, momentum=0.9).load_state_dict(state)
    with pytest.raises(StateError, match="saved with"):
        Adam(net.parameters(), lr=0.02).load_state_dict(state)
    fresh = Adam(net.parameters(), lr=0.01)
    n = state["arrays"]["m"][0].size
    for bad, message in [
        ({"m": [np.zeros(1, np.float32)]}, r"m\[0\] in the state is float32\[1\]"),  # no broadcast
        ({"m": [np.zeros(n, np.float64)]}, "float64"),
        ({"m": []}, "0 'm' arrays"),
    ]:
        with pytest.raises(ShapeError, match=message):
            fresh.load_state_dict({**state, "arrays": {**state["arrays"], **bad}})
    with pytest.raises(StateError, match="holds arrays"):
        fresh.load_state_dict({**state, "arrays": {"m": state["arrays"]["m"]}})
    with pytest.raises(StateError, match="step count"):
        fresh.load_state_dict({**state, "step": -1})
    assert fresh.t == 0 and not fresh.m[0].any()  # nothing was half-loaded


def test_make_optimizer_builds_each_kind_and_rejects_unknown_arguments():
    params = _net().parameters()
    assert isinstance(make_optimizer("adam", params, 1e-3, eps=1e-8), Adam)
    assert make_optimizer("sgd", params, 0.1).kind == "sgd"
    momentum = make_optimizer("momentum", params, 0.1)
    assert momentum.kind == "momentum" and momentum.momentum == 0.9
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        make_optimizer("rmsprop", params, 0.1)
    with pytest.raises(ValueError, match="takes no"):
        make_optimizer("sgd", params, 0.1, eps=1e-7)
    with pytest.raises(ValueError, match="use 'momentum'"):
        make_optimizer("sgd", params, 0.1, momentum=0.5)
    with pytest.raises(ValueError, match="momentum must lie"):
        make_optimizer("momentum", params, 0.1, momentum=1.0)


def test_adam_with_an_eps_whose_folded_form_underflows_stays_finite():
    """eps = 1e-44 is positive in float32, but eps * sqrt(1 - beta2^t) is not: the folded
    update would compute 0/0 for a zero gradient. Algorithm 1's own order keeps it finite."""
    theta = np.zeros(3, np.float32)
    grad = np.array([1.0, 0.0, -2.0], np.float32)
    opt = Adam([(theta, grad)], lr=1e-3, eps=1e-44)
    with np.errstate(all="raise"):
        opt.step()
        opt.step()
    np.testing.assert_allclose(theta, [-2e-3, 0.0, 2e-3], rtol=1e-6)


@pytest.mark.parametrize("optimizer", [Adam, SGD])
def test_float16_parameters_are_rejected_clearly(optimizer):
    with pytest.raises(TypeError, match="float16 are not supported"):
        optimizer([(np.zeros(2, np.float16), np.zeros(2, np.float16))])


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), True, "0.1"])
def test_lr_must_be_a_positive_finite_number(lr):
    with pytest.raises(ValueError, match="lr must be"):
        SGD([(np.zeros(2), np.zeros(2))], lr=lr)
