"""Optimisers: saving and restoring state, the factory, Adam's tiny-eps path, dtypes, the
flush of subnormal running averages (bit for bit the same weights)."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from tinybgn import mlp, optim, softmax_cross_entropy
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


# -- subnormals: flushed for speed, never for a different result -------------------------------
_FLUSH = optim.flush_subnormals


def _dying_gradients(n_params=300, steps=1000, seed=0):
    """Gradients that are N(0, 1) for a random number of steps (1-40), then exactly 0, as for
    a ReLU unit that dies: the running averages then decay into the subnormals (and stay there:
    round-to-nearest keeps 0.9 x 4 x 2**-149 at 4 x 2**-149)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(steps, n_params)).astype(np.float32)
    g[np.arange(steps)[:, None] >= rng.integers(1, 40, n_params)] = 0
    return g


def _trajectory(make, grads):
    theta = np.random.default_rng(1).normal(size=grads.shape[1]).astype(np.float32)
    grad = np.zeros_like(theta)
    opt = make([(theta, grad)])
    thetas, subnormals = [], 0  # entries x steps
    state = opt.m[0] if isinstance(opt, Adam) else opt.velocity[0]
    for g in grads:
        grad[...] = g
        opt.step()
        thetas.append(theta.copy())
        subnormal = np.count_nonzero((state != 0) & (np.abs(state) < np.finfo(np.float32).tiny))
        subnormals += subnormal
        if opt.t % optim.FLUSH_EVERY == 0 and flushes(opt):
            assert not subnormal, f"a subnormal left after the flush of step {opt.t}"
    return np.array(thetas), subnormals


def flushes(opt):
    return optim.flush_subnormals is _FLUSH and (
        not isinstance(opt, Adam) or opt.flush_bound <= optim.FLUSH_BOUND
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda p: Adam(p, lr=1e-2),
        lambda p: Adam(p, lr=1e-4, eps=1e-12),
        lambda p: SGD(p, lr=0.1, momentum=0.9),
    ],
    ids=["adam", "adam-eps1e-12", "momentum"],
)
def test_flushing_subnormals_leaves_every_step_bit_for_bit_as_without(make, monkeypatch):
    grads = _dying_gradients()
    flushed, flushed_subnormals = _trajectory(make, grads)
    monkeypatch.setattr(optim, "flush_subnormals", lambda a, scratch: None)
    exact, exact_subnormals = _trajectory(make, grads)
    assert exact_subnormals > 10_000  # the unflushed state does go through the subnormals...
    assert flushed_subnormals < exact_subnormals / 10  # ...the flushed one holds few
    np.testing.assert_array_equal(flushed, exact)  # and the weights are the same, bit for bit


def test_adam_with_a_tiny_eps_keeps_its_subnormals_as_algorithm_1_has_them():
    """With eps = 1e-30, m / eps is not negligible even for a subnormal m: no flush."""
    opt = Adam([(np.zeros(3, np.float32), np.zeros(3, np.float32))], lr=1e-3, eps=1e-30)
    assert opt.flush_bound > optim.FLUSH_BOUND
    assert Adam(opt.pairs, lr=1e-2).flush_bound <= optim.FLUSH_BOUND  # the default eps: flushed
    _, subnormals = _trajectory(lambda p: Adam(p, lr=1e-3, eps=1e-30), _dying_gradients())
    assert subnormals > 10_000


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(max_dims=2, max_side=20),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
    ),
    st.integers(0, 2**32 - 1),
)
def test_flush_subnormals_zeroes_exactly_the_subnormals(a, seed):
    rng = np.random.default_rng(seed)
    tiny = np.finfo(a.dtype).tiny
    chosen = rng.random(a.size) < 0.3
    a.flat[chosen] = tiny * rng.uniform(-0.999, 0.999, chosen.sum())  # subnormal (or 0)
    before = a.copy()
    optim.flush_subnormals(a, np.empty_like(a))
    expected = np.where(np.abs(before) < tiny, 0, before)
    np.testing.assert_array_equal(a, expected)
    assert not np.any((a != 0) & (np.abs(a) < tiny))
