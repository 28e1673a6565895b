"""Worked solutions to the exercises of lesson 1 (one Dense layer, eqs. 1-3)."""

import numpy as np

import tinybgn as tb

EPS = np.finfo(np.float64).eps
rng = np.random.default_rng(0)
x = rng.standard_normal((5, 4))
dy = rng.standard_normal((5, 3))
layer = tb.Dense(4, 3, rng=rng, dtype=np.float64)

# %% Exercise 1 - stacking the batch twice.
# Eqs. (1) and (2) sum over the samples, so every sample now counts twice: grads["W"] and
# grads["b"] double. Eq. (3) acts on each sample alone, so each row of grad_x is unchanged.
layer.forward(x)
grad_x = layer.backward(dy).copy()
gW, gb = layer.grads["W"].copy(), layer.grads["b"].copy()
layer.forward(np.vstack([x, x]))
grad_x2 = layer.backward(np.vstack([dy, dy]))
# Summing 2N terms instead of N changes the rounding by at most (2N - 1) eps sum|terms|.
assert np.allclose(layer.grads["W"], 2 * gW, rtol=0, atol=10 * 2 * EPS * (abs(dy).T @ abs(x)).max())
assert np.allclose(layer.grads["b"], 2 * gb, rtol=0, atol=10 * 2 * EPS * abs(dy).sum(0).max())
assert np.array_equal(grad_x2[:5], grad_x) and np.array_equal(grad_x2[5:], grad_x)
print("exercise 1: grads W and b doubled, grad_x rows unchanged")


# %% Exercise 2 - a square layer with W where W^T belongs.
class BuggyDense(tb.Dense):
    """eq. (3) written wrong: returns delta W^T instead of delta W (runs only when square)."""

    def backward(self, delta):
        super().backward(delta)  # eqs. (1) and (2) stay right
        return delta @ self.W.T  # BUG: should be delta @ self.W


good = tb.Dense(4, 4, rng=np.random.default_rng(1), dtype=np.float64)
bad = BuggyDense(4, 4, rng=np.random.default_rng(1), dtype=np.float64)
ok, wrong = tb.gradcheck(good, x), tb.gradcheck(bad, x)
print("exercise 2: correct layer:", ok, "\n            buggy layer:  ", wrong)
assert ok.errors["x"] < 1e-8
assert wrong.errors["x"] > 0.1  # a random W is far from symmetric, so the bug is obvious
assert wrong.errors["W"] < 1e-8  # ...while eqs. (1)-(2) are still right

# %% Exercise 3 - a linear layer has no truncation error.
# L = sum((x W^T + b) * dy) is linear in x, W and b, so L(x + h) - L(x - h) = 2 h dL/dx exactly
# in exact arithmetic, whatever h. Only rounding (~ eps S / h) is left, and it *shrinks* as h
# grows: the large step is better, not worse.
big, small = tb.gradcheck(layer, x, h=1e-2), tb.gradcheck(layer, x, h=1e-6)
print(f"exercise 3: h=1e-2 -> {big.worst:.1e},  h=1e-6 -> {small.worst:.1e}")
assert big.worst < 1e-11
assert big.worst < small.worst
