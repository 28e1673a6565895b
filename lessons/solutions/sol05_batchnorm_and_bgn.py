"""Worked solutions to the exercises of lesson 5 (BatchNorm, and BatchNorm + BGN)."""

import numpy as np

import tinybgn as tb

EPS = np.finfo(np.float64).eps
rng = np.random.default_rng(0)
x = rng.standard_normal((16, 5))

# %% Exercise 1 - evaluation mode: a fixed affine map per feature.
bn = tb.BatchNorm(5, dtype=np.float64)
bn.params["gamma"][:] = rng.uniform(0.5, 2.0, 5)
for _ in range(20):  # give the running statistics something other than their start values
    bn.forward(rng.standard_normal((16, 5)) * 2 + 1)
result = tb.gradcheck(bn, x, training=False)
print("exercise 1: evaluation-mode gradcheck:", result)
assert result.worst < 1e-8
dy = rng.standard_normal((16, 5))
bn.forward(x, training=False)
assert np.allclose(bn.backward(dy), bn.params["gamma"] * bn.inv_std * dy, rtol=4 * EPS, atol=0)

# %% Exercise 2 - biases before BN get a zero gradient.
# grad_b = sum_n delta_n (eq. 2), and delta is BN's input gradient, whose sum over the batch is
# zero for every feature. (In exact arithmetic: b only shifts the batch mean, which BN removes.)
model = tb.mlp(
    in_features=20, hidden=(16,) * 4, out_features=10, batchnorm=True, seed=0, dtype=np.float64
)
xb, yb = rng.standard_normal((32, 20)), rng.integers(0, 10, 32)
_, dlogits = tb.softmax_cross_entropy(model.forward(xb), yb)
model.backward(dlogits)
for layer in model.layers[:-1]:
    if isinstance(layer, tb.Dense):
        size = np.abs(layer.grads["W"]).max()
        print(
            f"exercise 2: {layer!r}: max|grad b| = {np.abs(layer.grads['b']).max():.1e} "
            f"(max|grad W| = {size:.1e})"
        )
        assert np.abs(layer.grads["b"]).max() < 32 * 8 * EPS * size
assert np.abs(model.layers[-1].grads["b"]).max() > 1e-3  # the output layer has no BN after it


# %% Exercise 3 - BN makes the layer before it scale invariant.
# z -> c z gives mu -> c mu and sigma -> c sigma, so x_hat is unchanged (exactly when eps = 0;
# to ~eps / sigma^2 ~ 1e-12 with eps = 1e-12). Backward: dL/dz = inv_std (...) picks up 1/c,
# so grad_W -> grad_W / c.
def run(c):
    net = tb.Sequential(
        [
            tb.Dense(20, 16, rng=np.random.default_rng(1), dtype=np.float64),
            tb.BatchNorm(16, eps=1e-12, dtype=np.float64),
            tb.Tanh(),
            tb.Dense(16, 10, rng=np.random.default_rng(2), dtype=np.float64),
        ]
    )
    net.layers[0].params["W"] *= c
    net.layers[0].params["b"] *= c
    out = net.forward(xb)
    _, d = tb.softmax_cross_entropy(out, yb)
    net.backward(d)
    return out, net.layers[0].grads["W"].copy()


out1, g1 = run(1.0)
out5, g5 = run(5.0)
print(
    f"exercise 3: output changes by {np.abs(out5 - out1).max():.1e}; "
    f"||grad W|| ratio {np.linalg.norm(g1) / np.linalg.norm(g5):.12f} (c = 5)"
)
assert np.allclose(out5, out1, rtol=0, atol=1e-10)
assert np.allclose(g5 * 5, g1, rtol=1e-9, atol=0)
# SGD then takes a step lr * grad / c on weights that are c times larger: a relative change
# c^2 smaller, so the effective learning rate depends on the weights' scale. Adam's step is
# ~lr whatever the gradient's scale, so there the relative change is only 1/c smaller.
