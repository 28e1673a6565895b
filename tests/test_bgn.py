"""BGN as properties of eqs. (4), (5), (8), (9) and (10).

BGN's backward is deliberately not the derivative of its forward, so it is never
finite-differenced; instead these tests check that it does what the paper's equations say.
:func:`tinybgn.testing.check_bgn_like` states them all for any BGN-like layer (the layer
contract, eq. 4, eq. 5 for gradients of 10^-100 to 10^100, eq. 8, and eqs. 9 and 10 in random
networks); the tests after it push tinybgn's BGN further (10^+-300, float32, subnormals).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tinybgn import BGN, Dense, mlp, softmax_cross_entropy
from tinybgn.gradcheck import rel_error
from tinybgn.testing import batches, check_bgn_like


def _scaled_gradients():
    """float64 gradients of shape (N, D) with magnitudes anywhere from 1e-300 to 1e+300."""
    return st.tuples(batches(max_cols=8), st.integers(-300, 300)).map(lambda t: t[0] * 10.0 ** t[1])


@pytest.mark.parametrize("scope", ["batch", "sample"])
def test_eqs4_5_8_9_10_and_the_layer_contract_hold_for_bgn(scope):
    """check_bgn_like: eq. (4) identity; eq. (5) norm kappa and direction of g (per row, a zero
    row staying zero, for scope="sample"); eq. (8) n_K; eq. (9) delta_BGN^(K) = delta^(K) *
    prod_{j >= K} 1/n_j in random MLPs (depth 1-8, width 2-10, with and without BatchNorm and
    an output BGN), and eq. (10): grad_W keeps its direction."""
    check_bgn_like(lambda d: BGN(scope=scope), scope=scope)


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


def _deltas(model, x, labels):
    """delta^(K) = dL/dz at every Dense (input side first)."""
    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    deltas = []

    def record(step):
        if isinstance(step.layer, Dense):
            deltas.append(step.grad_in.copy())

    model.backward(dlogits, trace=record)
    return deltas[::-1]


def test_bgn_deltas_have_norm_kappa_at_every_depth():
    """The paper's Figure 1 claim in its exact form: ||delta_BGN^(K)|| = kappa for all K."""
    rng = np.random.default_rng(0)
    model = mlp(784, [64] * 90, 10, "sigmoid", bgn=True, seed=0, dtype=np.float64)
    x = rng.random((32, 784))
    deltas = _deltas(model, x, rng.integers(0, 10, 32))
    assert np.allclose([np.linalg.norm(d) for d in deltas[:-1]], 8.0, rtol=1e-12)
