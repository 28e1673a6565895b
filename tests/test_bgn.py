"""BGN as properties of eqs. (4), (5), (8), (9) and (10).

BGN's backward is deliberately not the derivative of its forward, so it is never
finite-differenced; instead these tests check that it does what the paper's equations say.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import batches

from tinybgn import BGN, Dense, mlp, softmax_cross_entropy
from tinybgn.gradcheck import rel_error


def _scaled_gradients():
    """float64 gradients of shape (N, D) with magnitudes anywhere from 1e-300 to 1e+300."""
    return st.tuples(batches(max_cols=8), st.integers(-300, 300)).map(lambda t: t[0] * 10.0 ** t[1])


@given(x=batches())
def test_eq4_forward_is_the_identity(x):
    layer = BGN()
    y = layer.forward(x)
    assert y.dtype == x.dtype and np.array_equal(y, x)


# l2_norm's fast path (one dot product) overflows for huge gradients, NumPy says so, and the
# scaled fallback then computes the norm: that documented warning is expected in these tests.
EXPECTED_OVERFLOW = pytest.mark.filterwarnings("ignore:overflow encountered in dot:RuntimeWarning")


@EXPECTED_OVERFLOW
@given(g=_scaled_gradients())
def test_eq5_output_has_norm_kappa_and_the_direction_of_g(g):
    assume(np.any(g != 0))
    layer = BGN()
    layer.forward(np.zeros_like(g))
    out = layer.backward(g)
    kappa = np.sqrt(g.shape[1])  # d = size of g without the batch axis
    assert np.linalg.norm(out) == pytest.approx(kappa, rel=1e-12)
    unit = g / np.max(np.abs(g))  # rescaled so the comparison itself cannot overflow
    assert rel_error(out / kappa, unit / np.linalg.norm(unit)) < 1e-12
    assert layer.n_K == pytest.approx(layer.g_norm / kappa, rel=1e-15)  # eq. (8)


@given(g=batches(max_cols=8), kappa=st.floats(1e-3, 1e3))
def test_eq5_with_a_given_kappa(g, kappa):
    assume(np.any(g != 0))
    layer = BGN(kappa=kappa)
    layer.forward(g)
    out = layer.backward(g)
    assert np.linalg.norm(out) == pytest.approx(kappa, rel=1e-12)
    unit = g / np.max(np.abs(g))  # rescaled so the reference itself cannot underflow
    assert np.allclose(out, kappa * unit / np.linalg.norm(unit), rtol=1e-12, atol=0)


def test_eq5_kappa_counts_all_non_batch_dimensions():
    g = np.random.default_rng(0).normal(size=(5, 3, 4))
    layer = BGN()
    layer.y_shape = g.shape  # BGN.forward takes 2-D batches; backward's rule is general
    assert np.linalg.norm(layer.backward(g)) == pytest.approx(np.sqrt(12), rel=1e-12)


@EXPECTED_OVERFLOW
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("magnitude", [0.0, 1e-44, 1e-30, 1e-20, 1.0, 1e20, 1e30])
def test_zero_tiny_and_huge_gradients_stay_finite(dtype, magnitude):
    g = (np.random.default_rng(1).normal(size=(32, 64)) * magnitude).astype(dtype)
    layer = BGN()
    layer.forward(np.zeros_like(g))
    with np.errstate(divide="raise", invalid="raise"):  # no x/0 and no NaN-making operation
        out = layer.backward(g)
    assert out.dtype == dtype and np.all(np.isfinite(out))
    if np.any(g != 0):  # subnormal float32 entries keep only a few bits, hence 1e-2 at 1e-44
        rel = 1e-2 if magnitude < np.finfo(np.float32).tiny else 1e-5
        assert np.linalg.norm(out.astype(np.float64)) == pytest.approx(8.0, rel=rel)
    else:
        assert not np.any(out) and layer.n_K == 0


@given(g=batches(min_rows=2, max_cols=8))
def test_sample_scope_normalises_each_row_on_its_own(g):
    g[0] = 0  # a zero row stays zero
    layer = BGN(scope="sample")
    layer.forward(g)
    out = layer.backward(g)
    kappa = np.sqrt(g.shape[1])
    norms = np.linalg.norm(out, axis=1)
    nonzero = np.linalg.norm(g, axis=1) > 0
    assert np.allclose(norms[nonzero], kappa, rtol=1e-12)
    assert not np.any(out[0])
    assert layer.n_K.shape == (len(g),)


# -- eqs. (9) and (10): a BGN network against the same network without BGN -------------------


def _deltas_and_weight_grads(model, x, labels):
    """delta^(K) = dL/dz and dL/dW at every Dense, and n_K at every BGN (input side first)."""
    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    deltas = {}

    def record(step):
        if isinstance(step.layer, Dense):
            deltas[step.index] = step.grad_in.copy()

    model.backward(dlogits, trace=record)
    dense = [i for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]
    n_K = {i: layer.n_K for i, layer in enumerate(model.layers) if isinstance(layer, BGN)}
    weight_grads = [model.layers[i].grads["W"].copy() for i in dense]
    return [deltas[i] for i in dense], weight_grads, dense, n_K


@given(
    depth=st.integers(1, 8),
    width=st.integers(2, 10),
    activation=st.sampled_from(["relu", "sigmoid", "tanh"]),
    batchnorm=st.booleans(),
    bgn_output=st.booleans(),
    batch=st.integers(2, 8),
    seed=st.integers(0, 2**16),
)
def test_eq9_bgn_deltas_are_plain_deltas_times_product_of_inverse_norms(
    depth, width, activation, batchnorm, bgn_output, batch, seed
):
    """delta_BGN^(K) = delta^(K) * prod_{j >= K} 1/n_j, and (eq. 10) grad_W scales the same way."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, 6))
    labels = rng.integers(0, 4, size=batch)
    kwargs = dict(activation=activation, batchnorm=batchnorm, seed=seed, dtype=np.float64)
    plain = mlp(6, [width] * depth, 4, bgn=False, **kwargs)
    with_bgn = mlp(6, [width] * depth, 4, bgn=True, bgn_output=bgn_output, **kwargs)

    deltas, grads_W, _, _ = _deltas_and_weight_grads(plain, x, labels)
    deltas_bgn, grads_W_bgn, dense_idx, n_K = _deltas_and_weight_grads(with_bgn, x, labels)
    assume(all(n > 0 for n in n_K.values()))  # an all-dead ReLU layer has no direction to keep

    for k, layer_index in enumerate(dense_idx):
        # BGN layers "at and above" Dense k: every BGN that comes after it in the network
        product = np.prod([1 / n for i, n in n_K.items() if i > layer_index])
        assert rel_error(deltas_bgn[k], deltas[k] * product, floor=0) < 1e-9, f"Dense #{k}"
        # eq. (10): same direction, positive factor (cosine similarity 1)
        a, b = grads_W_bgn[k].ravel(), grads_W[k].ravel()
        if np.any(b):
            cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            assert cosine == pytest.approx(1.0, abs=1e-12), f"Dense #{k}"


def test_bgn_deltas_have_norm_kappa_at_every_depth():
    """The paper's Figure 1 claim in its exact form: ||delta_BGN^(K)|| = kappa for all K."""
    rng = np.random.default_rng(0)
    model = mlp(784, [64] * 90, 10, "sigmoid", bgn=True, seed=0, dtype=np.float64)
    x = rng.random((32, 784))
    deltas, _, _, _ = _deltas_and_weight_grads(model, x, rng.integers(0, 10, 32))
    assert np.allclose([np.linalg.norm(d) for d in deltas[:-1]], 8.0, rtol=1e-12)
