"""Worked solutions to the exercises of lesson 2 (activations, eq. 6, the chain rule)."""

import warnings

import numpy as np

import tinybgn as tb
from tinybgn.activations import Activation

rng = np.random.default_rng(0)

# %% Exercise 1 - ||delta^(K)|| <= ||W^(K+1)||_2 max|f'| ||delta^(K+1)|| in a sigmoid net.
# ||[W^T d] o f'|| <= max|f'| ||W^T d|| (each entry is scaled by at most max|f'|), and
# ||W^T d|| = ||d W|| <= ||W||_2 ||d|| for the batch matrix d (the spectral norm bounds every
# row). For the sigmoid max|f'| = 1/4.
model = tb.mlp(
    in_features=20,
    hidden=(16,) * 10,
    out_features=10,
    activation="sigmoid",
    seed=0,
    dtype=np.float64,
)
x, labels = rng.standard_normal((32, 20)), rng.integers(0, 10, 32)
_, dlogits = tb.softmax_cross_entropy(model.forward(x), labels)
deltas = {}
model.backward(
    dlogits,
    trace=lambda s: (
        deltas.setdefault(s.index, s.grad_in.copy()) if isinstance(s.layer, tb.Dense) else None
    ),
)
dense_idx = sorted(deltas)
for below, above in zip(dense_idx[:-1], dense_idx[1:], strict=True):
    lhs = np.linalg.norm(deltas[below])
    rhs = np.linalg.norm(model.layers[above].W, 2) * 0.25 * np.linalg.norm(deltas[above])
    assert lhs <= rhs * (1 + 1e-12), (below, lhs, rhs)  # 1e-12: rounding in the norms
    print(f"layer {below:2d}: ||delta|| = {lhs:.3e} <= bound {rhs:.3e}  (ratio {lhs / rhs:.2f})")


# %% Exercise 2 - LeakyReLU as an Activation subclass.
class LeakyReLU(Activation):
    """f(z) = z for z > 0, alpha z otherwise;  f'(z) = 1 or alpha."""

    def __init__(self, alpha=0.01):
        super().__init__()
        self.alpha = alpha

    def f(self, z):
        return np.where(z > 0, z, self.alpha * z)

    def f_prime(self):
        return np.where(self.z > 0, 1.0, self.alpha)


z = rng.standard_normal((8, 5))
z += np.sign(z) * 0.1  # keep away from the kink at 0
result = tb.gradcheck(LeakyReLU(), z)
print("LeakyReLU:", result)
assert result.worst < 1e-8

# %% Exercise 3 - the engine's sigmoid is the usual one, without overflow.
zs = np.linspace(-30, 30, 601)[None, :]
engine = tb.Sigmoid().forward(zs)
naive = 1 / (1 + np.exp(-zs))
assert np.max(np.abs(engine - naive)) < 4 * np.finfo(np.float64).eps  # both ~ 1 ulp of 1
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    naive_far = 1 / (1 + np.exp(np.array([1000.0])))  # exp(1000) overflows to inf
assert any(issubclass(w.category, RuntimeWarning) for w in caught)
with warnings.catch_warnings():
    warnings.simplefilter("error")  # any warning from the engine would raise here
    far = tb.Sigmoid().forward(np.array([[-1000.0]]))
# The true value, e^-1000 ~ 1e-435, is below the smallest float64: 0 or a tiny positive number
# are both correct roundings; what matters is no overflow, no NaN and a value in [0, 1).
assert np.isfinite(far).all() and 0 <= far[0, 0] < 1e-300 and naive_far[0] == 0.0
print(
    f"sigmoid: engine == naive to 1 ulp on [-30, 30]; at z = -1000 the naive formula overflowed "
    f"(warning), the engine returned {far[0, 0]:.1e} silently"
)
