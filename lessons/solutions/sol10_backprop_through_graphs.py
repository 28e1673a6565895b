"""Worked solutions to the exercises of lesson 10 (backpropagation through graphs)."""

import numpy as np

import tinybgn as tb
from tinybgn.gradcheck import numerical_gradient, rel_error

rng = np.random.default_rng(0)

# %% Exercise 1: a three-way fan-out, y = x + f(x) + g(x).
# x feeds the outer Add, f and g, so dL/dx = dL/dy + J_f^T dL/dy + J_g^T dL/dy. With
# f = tanh(D_f x) and g = sigmoid(D_g x): J_f^T u = (u o tanh'(z_f)) W_f, and likewise for g.
D_f = tb.Dense(4, 4, rng=rng, dtype=np.float64)
D_g = tb.Dense(4, 4, rng=rng, dtype=np.float64)
x = tb.Input(4)
y = tb.Add()(x, tb.Add()(tb.Tanh()(D_f(x)), tb.Sigmoid()(D_g(x))))
model = tb.Model(x, y)
xb, dy = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
model.forward(xb)
dx = model.backward(dy)
z_f, z_g = xb @ D_f.W.T + D_f.b, xb @ D_g.W.T + D_g.b
sig = 1 / (1 + np.exp(-z_g))
by_hand = dy + (dy * (1 - np.tanh(z_f) ** 2)) @ D_f.W + (dy * sig * (1 - sig)) @ D_g.W
assert np.allclose(dx, by_hand, rtol=1e-13, atol=0)
numeric = numerical_gradient(lambda: float(np.sum(model.forward(xb) * dy)), xb)
print(f"exercise 1: engine vs by hand {rel_error(dx, by_hand):.1e}, vs finite differences "
      f"{rel_error(dx, numeric):.1e}")  # fmt: skip
assert rel_error(dx, numeric) < 1e-8

# %% Exercise 2: one BatchNorm used twice.
# Yes: gamma and beta enter the loss through both uses, so their gradients are sums over the
# uses, and each use's backward needs that use's batch statistics (its own x_hat and inv_std),
# which the engine keeps per use. (The running statistics are updated by both uses, as in any
# framework that lets you call a BN module twice.)
bn = tb.BatchNorm(4, dtype=np.float64)
bn.params["gamma"][...] = rng.uniform(0.5, 1.5, 4)
bn.params["beta"][...] = rng.normal(size=4)
x = tb.Input(4)
first = bn(tb.Dense(4, 4, rng=rng, dtype=np.float64)(x))
second = bn(tb.Tanh()(tb.Dense(4, 4, rng=rng, dtype=np.float64)(first)))
model = tb.Model(x, tb.Add()(first, second))
result = tb.gradcheck(model, rng.normal(size=(6, 4)))
print("exercise 2:", result)
assert result.worst < 1e-6

# %% Exercise 3: eq. (9) with BGN on the trunk, blocks of two layers.
kw = dict(activation="tanh", block_size=2, seed=1, dtype=np.float64)
with_bgn = tb.residual_mlp(6, [5] * 7, 3, bgn=True, bgn_placement="trunk", **kw)
plain = tb.residual_mlp(6, [5] * 7, 3, **kw)
xb, labels = rng.normal(size=(8, 6)), rng.integers(0, 3, 8)
found = {}
for name, net in (("bgn", with_bgn), ("plain", plain)):
    _, dlogits = tb.softmax_cross_entropy(net.forward(xb), labels)
    found[name] = []
    net.backward(dlogits, trace=found[name].append)
dense_bgn = [s for s in found["bgn"] if isinstance(s.layer, tb.Dense)]
dense_plain = [s for s in found["plain"] if isinstance(s.layer, tb.Dense)]
assert len(dense_bgn) == len(dense_plain) == 8
for a, b in zip(dense_bgn, dense_plain, strict=True):
    lo, hi = a.scale
    assert abs(hi - lo) <= 1e-12 * hi  # one product for every path
    assert np.allclose(a.grad_in, b.grad_in * lo, rtol=1e-9, atol=0)  # eq. (9)
print("exercise 3: eq. (9) holds at all", len(dense_bgn), "Dense layers, products",
      [f"{s.scale[0]:.3g}" for s in dense_bgn[::-1]])  # fmt: skip
