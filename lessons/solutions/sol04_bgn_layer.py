"""Worked solutions to the exercises of lesson 4 (the BGN layer, eqs. 4-5)."""

import sys

import numpy as np

import tinybgn as tb

EPS = np.finfo(np.float64).eps
rng = np.random.default_rng(0)

# %% Exercise 1 - per-sample normalisation (a variant, not the paper's method).
g = rng.standard_normal((5, 6))
kappa = np.sqrt(6)
per_sample, whole_batch = tb.BGN(scope="sample"), tb.BGN()
for layer in (per_sample, whole_batch):
    layer.forward(g)
rows_sample = np.linalg.norm(per_sample.backward(g), axis=1)
rows_batch = np.linalg.norm(whole_batch.backward(g), axis=1)
print("exercise 1: row norms, scope='sample':", np.round(rows_sample, 12))
print("            row norms, scope='batch': ", np.round(rows_batch, 6))
assert np.allclose(rows_sample, kappa, rtol=8 * EPS, atol=0)
assert np.ptp(rows_batch) > 0.1  # the paper's BGN keeps the rows' relative sizes
assert abs(np.linalg.norm(rows_batch) / kappa - 1) < 8 * EPS


# Consequence: a per-row rescaling is not one scalar, so eq. (9) fails and the weight gradient of
# a layer below changes direction. Compare the first layer's grad_W with the plain network's.
def first_layer_grad(**kw):
    model = tb.mlp(
        in_features=10,
        hidden=(16,) * 3,
        out_features=3,
        activation="tanh",
        seed=1,
        dtype=np.float64,
        **kw,
    )
    _, dlogits = tb.softmax_cross_entropy(model.forward(xb), yb)
    model.backward(dlogits)
    return model.layers[0].grads["W"].copy()


def cosine(a, b):
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


xb, yb = rng.standard_normal((8, 10)), rng.integers(0, 3, 8)
plain = first_layer_grad()
cos_batch = cosine(first_layer_grad(bgn=True), plain)
cos_sample = cosine(first_layer_grad(bgn=True, bgn_scope="sample"), plain)
print(f"            cosine to the plain grad_W: batch {cos_batch:.15f}, sample {cos_sample:.6f}")
assert 1 - cos_batch < 1e-12  # eq. (10): parallel, up to rounding
assert 1 - cos_sample > 1e-4  # the per-sample variant changes the direction

# %% Exercise 2 - ||grad_W L|| = kappa ||x|| for one sample; <= kappa ||X|| for a batch.
# For one sample grad_W = delta x^T, an outer product, and ||u v^T||_F = ||u|| ||v||; BGN makes
# ||delta|| = kappa. For a batch, grad_W = sum_n delta_n x_n^T and the triangle and
# Cauchy-Schwarz inequalities give <= sum_n ||delta_n|| ||x_n|| <= ||delta|| ||X||.
model = tb.mlp(
    in_features=10,
    hidden=(16,) * 4,
    out_features=3,
    activation="relu",
    bgn=True,
    seed=3,
    dtype=np.float64,
)
for n in (1, 8):
    _, dlogits = tb.softmax_cross_entropy(model.forward(xb[:n]), yb[:n])
    model.backward(dlogits)
    for layer in model.layers[:-1]:  # hidden Dense layers: their delta comes out of a BGN
        if isinstance(layer, tb.Dense):
            lhs = np.linalg.norm(layer.grads["W"])
            rhs = 4.0 * np.linalg.norm(layer.x)  # kappa = sqrt(16) = 4
            if n == 1:
                assert abs(lhs / rhs - 1) < 64 * EPS, (lhs, rhs)
            else:
                assert lhs <= rhs * (1 + 64 * EPS)
    print(
        f"exercise 2: batch of {n}: ||grad_W|| {'==' if n == 1 else '<='} kappa ||x|| at "
        f"every hidden layer"
    )

# %% Exercise 3 - the zero branch, stepped through.
layer = tb.BGN()
layer.forward(g)
code = tb.BGN.backward.__code__


def lines_run(grad):
    """Line numbers of BGN.backward executed for ``grad``, and the result."""
    seen = []

    def tracer(frame, event, arg):
        if frame.f_code is not code:
            return None
        if event == "line":
            seen.append(frame.f_lineno)
        return tracer

    sys.settrace(tracer)
    try:
        # 0/0 (invalid), x/0 (divide) or overflow would raise FloatingPointError. (Underflow is
        # left alone: rounding a tiny intermediate to zero is harmless and normal.)
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            result = layer.backward(grad)
    finally:
        sys.settrace(None)
    return seen, result


zero_lines, zero = lines_run(np.zeros_like(g))
normal_lines, _ = lines_run(g)
print(f"exercise 3: lines run for g = 0: {zero_lines}; for a normal g: {normal_lines}")
assert np.array_equal(zero, np.zeros_like(g))
assert zero_lines[-1] not in normal_lines  # g = 0 returns from its own branch, early
