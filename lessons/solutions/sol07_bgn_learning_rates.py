"""Worked solutions to the exercises of lesson 7 (eqs. 7-9: BGN as per-layer learning rates)."""

import numpy as np

import tinybgn as tb

rng = np.random.default_rng(0)
x, labels = rng.standard_normal((32, 20)), rng.integers(0, 10, 32)


def deltas_and_n(model):
    """Deltas at the Dense layers and n_K of the BGN layers, both input side first."""
    _, dlogits = tb.softmax_cross_entropy(model.forward(x), labels)
    steps = []
    model.backward(dlogits, trace=steps.append)
    deltas = [s.grad_in for s in steps if isinstance(s.layer, tb.Dense)][::-1]
    n = [s.layer.n_K for s in steps if isinstance(s.layer, tb.BGN)][::-1]
    return deltas, np.array(n)


def check_eq9(scales, plain_deltas, bgn_deltas):
    worst = 0.0
    for scale, a, b in zip(scales, bgn_deltas, plain_deltas, strict=True):
        worst = max(worst, np.linalg.norm(a - scale * b) / np.linalg.norm(a))
    assert worst < 1e-9, worst  # the same bound as in the lesson
    return worst


def build(**kw):
    return tb.mlp(
        in_features=20,
        hidden=(32,) * 12,
        out_features=10,
        activation="tanh",
        seed=1,
        dtype=np.float64,
        **kw,
    )


# %% Exercise 1 - eq. (9) with BatchNorm: Dense -> BN -> BGN -> activation.
# BN's backward, inv_std * (g_hat - mean(g_hat) - x_hat mean(g_hat x_hat)), is linear in its
# incoming gradient g (given the cached forward), so a scalar passes straight through it.
d_plain, _ = deltas_and_n(build(batchnorm=True))
d_bgn, n = deltas_and_n(build(batchnorm=True, bgn=True))
# The paper's numbering: n[j - 1] is n_j, j = 1 .. N; Dense K has BGN K .. N above it.
scales = [np.prod(1 / n[K - 1 :]) for K in range(1, len(n) + 1)] + [1.0]
print(f"exercise 1: eq. (9) with BatchNorm, worst {check_eq9(scales, d_plain, d_bgn):.1e}")

# %% Exercise 2 - a BGN before the softmax (bgn_output=True).
# The extra BGN sits above the output Dense layer, so the output layer's delta is scaled by
# 1/n_out (kappa = sqrt(10) there), and every layer below gets that factor too.
d_plain, _ = deltas_and_n(build())
d_bgn, n = deltas_and_n(build(bgn=True, bgn_output=True))
assert len(n) == 13  # 12 hidden BGN layers + the output one
scales = [np.prod(1 / n[K - 1 :]) for K in range(1, len(n) + 1)]  # Dense K: BGN K..13 above
print(
    f"exercise 2: output layer scale 1/n_out = {scales[-1]:.4f}; eq. (9) worst "
    f"{check_eq9(scales, d_plain, d_bgn):.1e}"
)
assert abs(np.linalg.norm(d_bgn[-1]) / np.sqrt(10) - 1) < 1e-12  # eq. (5) at the output


# %% Exercise 3 - Adam cancels a constant scale, not one near eps.
def train(factor, eps, steps=10):
    net = tb.mlp(
        in_features=20,
        hidden=(16,) * 3,
        out_features=10,
        activation="tanh",
        seed=2,
        dtype=np.float64,
    )
    opt = tb.Adam(net.parameters(), lr=1e-2, eps=eps)
    for _ in range(steps):
        _, d = tb.softmax_cross_entropy(net.forward(x), labels)
        net.backward(d)
        net.flat_grads *= factor  # every gradient times the same constant
        opt.step()
    return net.flat_params.copy()


# A power of two scales every float exactly, so m -> c m, v -> c^2 v, sqrt(v) -> c sqrt(v) are
# all exact and the updates are bit-for-bit the same.
same = train(2.0**20, eps=1e-300)
assert np.array_equal(same, train(1.0, eps=1e-300))
# With eps = 1e-7 and gradients scaled to ~1e-10, Adam's denominator is eps, not sqrt(v_hat):
# the steps shrink by the factor and training barely moves.
start = tb.mlp(
    in_features=20, hidden=(16,) * 3, out_features=10, activation="tanh", seed=2, dtype=np.float64
).flat_params
moved_normal = np.linalg.norm(train(1.0, eps=1e-7) - start)
moved_tiny = np.linalg.norm(train(2.0**-30, eps=1e-7) - start)
print(
    f"exercise 3: x 2^20 with eps~0: identical weights;  with eps=1e-7, distance moved: "
    f"normal {moved_normal:.2e}, gradients x 2^-30: {moved_tiny:.2e}"
)
assert moved_tiny < 0.1 * moved_normal
