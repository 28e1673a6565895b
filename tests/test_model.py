"""Sequential, mlp, the loss and the optimisers: behaviour, determinism and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tinybgn import (
    BGN,
    SGD,
    Adam,
    BatchNorm,
    Dense,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    mlp,
    softmax_cross_entropy,
)
from tinybgn.errors import LabelError, NonFiniteError, ShapeError, TinyBGNError


def _batch(n=16, d=784, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(dtype), rng.integers(0, 10, size=n)


def _train(model, steps=3, optimizer=Adam, **kwargs):
    opt = optimizer(model.parameters(), **kwargs)
    x, y = _batch(d=model.layers[0].in_features, dtype=model.dtype)
    losses = []
    for _ in range(steps):
        loss, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits)
        opt.step()
        losses.append(loss)
    return losses


# -- mlp -----------------------------------------------------------------------------------


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("bgn", [False, True])
def test_mlp_builds_the_papers_blocks_as_a_flat_layer_list(batchnorm, bgn):
    model = mlp(784, [64] * 3, 10, "tanh", batchnorm, bgn)
    block = [Dense] + [BatchNorm] * batchnorm + [BGN] * bgn + [Tanh]
    assert [type(layer) for layer in model.layers] == block * 3 + [Dense]
    assert model.layers[-1].W.shape == (10, 64)  # W is (out, in), as in the paper


def test_mlp_defaults_are_the_papers_90_by_64_relu_with_glorot_uniform_weights():
    model = mlp()
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    assert len(dense) == 91 and model.dtype == np.float32
    assert all(isinstance(layer, ReLU) for layer in model.layers[1:-1:2])
    limit = np.sqrt(6 / (64 + 64))
    W = dense[1].W
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit  # U(-limit, limit)
    assert not np.any(dense[1].b)  # zero biases


def test_bgn_output_option_adds_a_bgn_before_the_softmax():
    model = mlp(784, [8], 10, bgn=True, bgn_output=True)
    assert isinstance(model.layers[-1], BGN)


def test_same_seed_gives_bit_identical_training():
    a, b = mlp(784, [32] * 4, seed=3, bgn=True), mlp(784, [32] * 4, seed=3, bgn=True)
    assert _train(a) == _train(b)
    assert np.array_equal(a.flat_params, b.flat_params)
    c = mlp(784, [32] * 4, seed=4, bgn=True)
    assert not np.array_equal(a.flat_params, c.flat_params)


def test_bgn_and_bn_do_not_change_the_weights_a_seed_draws():
    plain, both = mlp(784, [16] * 3, seed=1), mlp(784, [16] * 3, seed=1, batchnorm=True, bgn=True)
    W_plain = [layer.W for layer in plain.layers if isinstance(layer, Dense)]
    W_both = [layer.W for layer in both.layers if isinstance(layer, Dense)]
    assert all(np.array_equal(a, b) for a, b in zip(W_plain, W_both, strict=True))


# -- Sequential ---------------------------------------------------------------------------


def test_parameters_are_views_into_one_flat_buffer():
    model = mlp(784, [16] * 3, batchnorm=True)
    total = sum(p.size for p, _ in model.parameters())
    assert model.flat_params.size == total == model.num_parameters()
    for p, g in model.parameters():
        assert np.shares_memory(p, model.flat_params) and np.shares_memory(g, model.flat_grads)
    model.layers[0].params["W"][0, 0] = 123.0
    assert 123.0 in model.flat_params


def test_backward_twice_gives_the_same_gradients():
    model = mlp(784, [16] * 3, 10, "sigmoid", batchnorm=True, bgn=True)
    x, y = _batch()
    _, dlogits = softmax_cross_entropy(model.forward(x), y)
    model.backward(dlogits)
    first = model.flat_grads.copy()
    model.backward(dlogits)
    assert np.array_equal(first, model.flat_grads) and np.any(first)


def test_state_dict_round_trip_restores_params_and_running_statistics():
    model = mlp(784, [16] * 2, batchnorm=True)
    _train(model)
    state = model.state_dict()
    other = mlp(784, [16] * 2, batchnorm=True, seed=9)
    other.load_state_dict(state)
    x, _ = _batch()
    assert np.array_equal(model.forward(x, training=False), other.forward(x, training=False))
    with pytest.raises(ShapeError, match="missing"):
        other.load_state_dict({k: v for k, v in state.items() if not k.startswith("0.")})


def test_eval_mode_uses_running_statistics():
    model = mlp(784, [16], batchnorm=True)
    x, _ = _batch()
    assert not np.array_equal(model.forward(x, training=True), model.eval().forward(x))
    assert model.training is False and model.train().training is True


def test_trace_records_every_layer_with_its_equation(capsys):
    model = mlp(784, [8] * 2, bgn=True, dtype=np.float64)
    x, y = _batch(dtype=np.float64)
    _, dlogits = softmax_cross_entropy(model.forward(x), y)
    model.backward(dlogits, trace=True)
    printed = capsys.readouterr().out
    assert "eq. (5)" in printed and "eqs. (1)-(3)" in printed and "eq. (6)" in printed
    steps = model.last_trace
    assert [s.index for s in steps] == list(range(len(model.layers) - 1, -1, -1))
    bgn_steps = [s for s in steps if isinstance(s.layer, BGN)]
    assert all(s.norm_out == pytest.approx(np.sqrt(8)) for s in bgn_steps)
    assert all("n_K" in s.note for s in bgn_steps)


# -- loss ---------------------------------------------------------------------------------


def test_softmax_cross_entropy_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss, dz = softmax_cross_entropy(z, y)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(6), y])), rel=1e-12)
    assert np.allclose(dz, (p - np.eye(4)[y]) / 6, rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1e30, 0.0, -1e30], [-1e300, 1e300, 0.0]])
    loss, dz = softmax_cross_entropy(z, np.array([0, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    assert loss == pytest.approx(1e300)  # sample 1: loss 0; sample 2: 1e300 - (-1e300)
    assert np.allclose(dz.sum(axis=1), 0)


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (np.array([0, 1, 10]), LabelError, r"\[0, 10\)"),
        (np.array([0, -1, 2]), LabelError, r"\[0, 10\)"),
        (np.array([0.0, 1.0, 2.0]), LabelError, "integers"),
        (np.array([0, 1]), ShapeError, "expected 3 labels"),
    ],
)
def test_bad_labels_are_reported(labels, error, message):
    with pytest.raises(error, match=message):
        softmax_cross_entropy(np.zeros((3, 10)), labels)


def test_loss_rejects_empty_batches_and_nonfinite_logits():
    with pytest.raises(ShapeError, match="N > 0"):
        softmax_cross_entropy(np.zeros((0, 10)), np.zeros(0, dtype=int))
    with pytest.raises(NonFiniteError, match="NaN or Inf"):
        softmax_cross_entropy(np.array([[0.0, np.nan]]), np.array([0]))


# -- bad input through the model -----------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_inputs_and_gradients_are_reported(bad):
    model = mlp(784, [8], 10)
    x, _ = _batch()
    x[3, 5] = bad
    with pytest.raises(NonFiniteError, match="input batch"):
        model.forward(x)
    model.forward(_batch()[0])
    grad = np.zeros((16, 10))
    grad[0, 0] = bad
    with pytest.raises(NonFiniteError, match="incoming gradient"):
        model.backward(grad)


def test_model_input_errors_say_what_and_where():
    model = mlp(784, [8], 10)
    with pytest.raises(ShapeError, match="non-empty"):
        model.forward(np.zeros((0, 784)))
    with pytest.raises(ShapeError, match=r"Dense\(784, 8\): expected 784 features"):
        model.forward(np.zeros((2, 783)))
    with pytest.raises(TinyBGNError):  # every tinybgn error shares one base class
        model.forward(np.zeros(784))


# -- optimisers ----------------------------------------------------------------------------


def _adam_reference(theta, grads, lr, b1, b2, eps):
    """Kingma & Ba (2015), Algorithm 1, written out literally for one array."""
    theta, m, v = theta.copy(), np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


@pytest.mark.parametrize("eps", [1e-7, 1e-3])
def test_adam_follows_algorithm_1(eps):
    rng = np.random.default_rng(0)
    theta, grad = rng.normal(size=(3, 4)), np.zeros((3, 4))
    grads = [rng.normal(size=(3, 4)) * 10.0**-k for k in range(5)]
    expected = _adam_reference(theta, grads, 0.01, 0.9, 0.99, eps)
    opt = Adam([(theta, grad)], lr=0.01, beta1=0.9, beta2=0.99, eps=eps)
    for g in grads:
        grad[...] = g
        opt.step()
    assert np.allclose(theta, expected, rtol=1e-13, atol=0)


def test_adam_first_step_moves_each_weight_by_lr():
    """t is incremented before the bias correction, so step 1 is lr * g / (|g| + eps)."""
    theta, grad = np.zeros(5), np.array([1.0, -2.0, 3.0, -4.0, 5.0])
    Adam([(theta, grad)], lr=0.1).step()
    assert np.allclose(theta, -0.1 * np.sign(grad), rtol=1e-6)


def test_adam_over_the_flat_buffer_equals_adam_per_array():
    flat_model, split_model = mlp(784, [16] * 3, seed=5), mlp(784, [16] * 3, seed=5)
    flat_opt = Adam(flat_model.parameters())
    assert len(flat_opt.pairs) == 1  # coalesced into the flat buffer
    pairs = [(p, g) for p, g in split_model.parameters()][::-1]  # reversed: cannot coalesce
    split_opt = Adam(pairs)
    assert len(split_opt.pairs) == len(pairs)
    x, y = _batch()
    for model, opt in [(flat_model, flat_opt), (split_model, split_opt)]:
        for _ in range(3):
            _, dlogits = softmax_cross_entropy(model.forward(x), y)
            model.backward(dlogits)
            opt.step()
    assert np.array_equal(flat_model.flat_params, split_model.flat_params)


def test_sgd_with_and_without_momentum():
    theta, grad = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    SGD([(theta, grad)], lr=0.1).step()
    assert np.allclose(theta, [0.95, 2.1])
    theta, grad = np.array([1.0]), np.array([1.0])
    opt = SGD([(theta, grad)], lr=0.1, momentum=0.9)
    opt.step()
    opt.step()  # v = 1, then 0.9 * 1 + 1 = 1.9
    assert np.allclose(theta, [1.0 - 0.1 - 0.19])


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_training_lowers_the_loss(activation):
    model = mlp(784, [32] * 3, 10, activation, bgn=True)
    losses = _train(model, steps=30, lr=1e-3)
    assert losses[-1] < losses[0] - 0.25  # 16 fixed samples: every activation can fit them


def test_optimizer_arguments_are_checked():
    with pytest.raises(ValueError, match="no parameters"):
        Adam([])
    with pytest.raises(ValueError, match="eps must be positive"):
        Adam([(np.zeros(2), np.zeros(2))], eps=0)
    with pytest.raises(ValueError, match="eps must be positive in float32"):  # rounds to 0
        Adam([(np.zeros(2, np.float32), np.zeros(2, np.float32))], eps=1e-50)
    with pytest.raises(ValueError, match="lr must be positive"):
        SGD([(np.zeros(2), np.zeros(2))], lr=0)


def test_sequential_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match="one dtype"):
        Sequential([Dense(2, 2, dtype=np.float32), Dense(2, 2, dtype=np.float64)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_accurate_in_both_tails_and_overflow_free(dtype):
    z = np.array([[-1000.0, -80.0, -20.0, 0.0, 20.0, 1000.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        y = Sigmoid().forward(z)
    exact = np.array(
        [[0.0, 1.8048513878454153e-35, 2.0611536181902037e-09, 0.5, 0.9999999979388464, 1]]
    )
    tiny = np.finfo(dtype).tiny
    assert np.allclose(y, exact, rtol=4 * np.finfo(dtype).eps, atol=tiny)


@pytest.mark.parametrize("every, blocks", [(1, [1, 2, 3, 4, 5, 6]), (3, [3, 6]), (4, [4])])
def test_bgn_every_k_puts_bgn_before_every_kth_activation_only(every, blocks):
    model = mlp(8, [4] * 6, 3, "relu", bgn=True, bgn_every=every, bgn_kappa=2.0)
    with_bgn, block = [], 0
    for layer in model.layers:
        if isinstance(layer, Dense):
            block += 1
        if isinstance(layer, BGN):
            with_bgn.append(block)
            assert layer.kappa == 2.0
    assert with_bgn == blocks
    plain = mlp(8, [4] * 6, 3, "relu")
    np.testing.assert_array_equal(model.flat_params, plain.flat_params)  # same weights


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_mlp_rejects_a_bad_bgn_every_or_seed(bad):
    with pytest.raises(ValueError, match="bgn_every"):
        mlp(8, [4], 3, bgn=True, bgn_every=bad)
    if bad is not True and bad != 0:
        with pytest.raises(ValueError, match="seed"):
            mlp(8, [4], 3, seed=bad)


def test_batchnorm_rejects_a_training_batch_of_one_sample():
    bn = BatchNorm(3)
    with pytest.raises(ShapeError, match="at least 2 samples"):
        bn.forward(np.ones((1, 3), np.float32), training=True)
    assert bn.forward(np.ones((1, 3), np.float32), training=False).shape == (1, 3)  # eval: fine
