# %% [markdown]
# # Lesson 2 - Activations, eq. (6) and the chain rule through a deep stack
#
# A hidden layer of the paper's networks is a Dense layer followed by an activation `f`. Going
# backward through it, the paper writes (eq. 6)
#
# $$\delta^{(K)} = [W^T \delta^{(K+1)}] \circ f'(z^{(K)})$$
#
# where `delta^(K) = dL/dz^(K)` is the gradient with respect to layer K's pre-activation and
# `∘` is the element-wise product. The bracket is eq. (3) of lesson 1, done by the Dense layer
# above; the `∘ f'(z)` is all an activation layer's `backward` does. In this lesson you will
#
# 1. look at `f` and `f'` for ReLU, sigmoid and tanh, and check each backward by finite
#    differences;
# 2. derive the gradient of the softmax cross-entropy loss, which starts every backward pass,
#    and check it the same way;
# 3. unroll eq. (6) by hand through a 10-layer tanh network and compare, layer by layer, with
#    the deltas `Sequential.backward` computes (read with the trace facility);
# 4. gradient-check the whole network at once.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, save_figure
from tinybgn.gradcheck import numerical_gradient, rel_error

rng = np.random.default_rng(0)
EPS = np.finfo(np.float64).eps

# %% [markdown]
# ## The three activations and their derivatives
#
# Each activation caches what its derivative needs on the forward pass (`z`, or the output `y`)
# and `backward(grad)` returns `grad * f'(z)`. Feeding `grad = 1` therefore returns `f'(z)`
# itself - fine here because an activation's Jacobian is diagonal (for a whole network we would
# use a random `grad`, see lesson 1).
#
# What to expect: the sigmoid's slope never exceeds **1/4** (at z = 0), tanh's never exceeds 1,
# ReLU's is 0 or 1. Keep the 1/4 in mind for lesson 3.

# %%
z_grid = np.linspace(-6, 6, 1201)[None, :]  # one "sample" of 1201 features
activations = {"relu": tb.ReLU(), "sigmoid": tb.Sigmoid(), "tanh": tb.Tanh()}
curves = {}
for name, act in activations.items():
    y = act.forward(z_grid)
    slope = act.backward(np.ones_like(z_grid))  # = f'(z), the diagonal of the Jacobian
    curves[name] = (y[0], slope[0])
    print(f"{name:8s} max f'(z) = {slope.max():.4f} at z = {z_grid[0, slope.argmax()]:+.2f}")

assert curves["sigmoid"][1].max() == 0.25  # exactly 1/4 at z = 0, where y = 1/2
assert curves["tanh"][1].max() == 1.0
assert set(np.unique(curves["relu"][1])) == {0.0, 1.0}

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
for name, (y, slope) in curves.items():
    axes[0].plot(z_grid[0], y, label=name)
    axes[1].plot(z_grid[0], slope, label=name)
axes[0].set(title="f(z)", xlabel="z")
axes[1].set(title="f'(z): the factor in eq. (6)", xlabel="z")
axes[1].axhline(0.25, color="gray", lw=0.8, ls="--")
axes[0].legend()
save_figure(fig, "02_activations.png")

# %% [markdown]
# ## Each activation's backward, by finite differences
#
# What to expect: relative errors around 1e-10, as in lesson 1. The activations are not linear,
# so the truncation error `h^2 f''' / 6` is back, but with `h = 1e-6` it is about 1e-13.
# ReLU has a kink at 0 where the derivative does not exist; a central difference straddling it
# would be wrong, so we keep the inputs at least 0.1 away from 0 (a random normal lands within
# `h` of 0 with probability ~1e-6 anyway).

# %%
z = rng.standard_normal((8, 5))
z += np.sign(z) * 0.1  # |z| >= 0.1: no input near ReLU's kink
for name, act in activations.items():
    result = tb.gradcheck(act, z, seed=3)
    print(f"{name:8s} {result}")
    assert result.worst < 1e-8

# %% [markdown]
# ## The loss: softmax cross-entropy and its gradient
#
# The paper's classifiers end in a softmax over the 10 digit classes and are trained on the
# cross-entropy. Its gradient with respect to the logits `z` is the `delta` that starts every
# backward pass, so we derive it and check it before using it. For a batch of N samples with
# labels `y_n`, `p_n = softmax(z_n)`:
#
# $$L = -\frac{1}{N} \sum_{n=1}^{N} \log p_{n, y_n}
#   = \frac{1}{N} \sum_{n=1}^{N} \Big(\log \sum_{c} e^{z_{nc}} - z_{n, y_n}\Big).$$
#
# Differentiating the bracket with respect to `z_nc`: the log-sum-exp gives
# `e^{z_nc} / sum_c' e^{z_nc'} = p_nc`, and `- z_{n,y_n}` gives `-1` when `c = y_n`. So
#
# $$\frac{\partial L}{\partial z_{nc}} = \frac{1}{N}\big(p_{nc} - [c = y_n]\big),
#   \qquad \text{i.e.} \quad \frac{\partial L}{\partial z} = \frac{p - \mathrm{onehot}(y)}{N}.$$
#
# `tb.softmax_cross_entropy(z, y)` returns `L` and this gradient. What to expect from central
# differences of `L` itself: as in lesson 1, a relative error near the rounding estimate
# `sqrt(P) eps S / (h ||g||)` (`S` the size of the terms summed into `L`, `P = N * 10` entries),
# a few times 1e-9 here; and each row of the gradient sums to 0, since `p_n` sums to 1. A
# common mistake, forgetting the `1/N` of the mean, is off by a factor N: a relative error
# of `(N - 1) / (N + 1)`.

# %%
z_logits = rng.standard_normal((8, 10)) * 2
y_labels = rng.integers(0, 10, 8)
loss, dz = tb.softmax_cross_entropy(z_logits, y_labels)
numeric = numerical_gradient(lambda: tb.softmax_cross_entropy(z_logits, y_labels)[0], z_logits)
error = rel_error(dz, numeric)
shifted = z_logits - z_logits.max(axis=1, keepdims=True)
lse = np.log(np.exp(shifted).sum(axis=1))
S = np.mean(lse + np.abs(shifted[np.arange(8), y_labels]))  # size of the summed terms
predicted = np.sqrt(dz.size) * EPS * S / 1e-6 / np.linalg.norm(dz)
forgot_mean = rel_error(dz * 8, numeric)  # the gradient without the 1/N
print(
    f"L = {loss:.4f}; dL/dz vs central differences: relative error {error:.1e} "
    f"(rounding estimate {predicted:.1e}); without the 1/N: {forgot_mean:.3f}"
)
assert error < 10 * predicted
assert np.allclose(dz.sum(axis=1), 0, rtol=0, atol=4 * EPS)
assert abs(forgot_mean - 7 / 9) < 1e-6

# %% [markdown]
# ## Eq. (6) by hand through a deep stack
#
# Now a network of `depth` hidden blocks `Dense -> Tanh` (width 16) and an output Dense with 10
# logits, in float64. The loss is softmax cross-entropy against random labels; its gradient
# `dlogits = (p - onehot(y)) / N`, derived and checked above, is `delta` of the output layer.
#
# The **trace facility** lets us watch the backward pass: `model.backward(grad, trace=f)`
# calls `f(step)` for every layer, from the output down, with the gradient the layer received
# (`step.grad_in`) and returned (`step.grad_out`). For a Dense layer `grad_in` is the paper's
# `delta^(K)`. We keep those, then redo the recursion with eq. (6) by hand.

# %%
depth, width, N = (4 if FAST else 10), 16, 32
model = tb.mlp(
    in_features=20,
    hidden=(width,) * depth,
    out_features=10,
    activation="tanh",
    seed=1,
    dtype=np.float64,
)
print(model)
x = rng.standard_normal((N, 20))
labels = rng.integers(0, 10, N)

logits = model.forward(x)
loss, dlogits = tb.softmax_cross_entropy(logits, labels)
engine_deltas = {}  # layer index -> delta arriving at that Dense layer


def keep_dense_deltas(step):
    if isinstance(step.layer, tb.Dense):
        engine_deltas[step.index] = step.grad_in.copy()


model.backward(dlogits, trace=keep_dense_deltas)
print(f"loss {loss:.4f}; collected the deltas of {len(engine_deltas)} Dense layers")

# %% [markdown]
# The same recursion by hand. Layers alternate `Dense, Tanh, Dense, Tanh, ..., Dense`; for each
# hidden Dense layer K, eq. (6) takes the delta of the Dense layer above, multiplies by `W^T`
# (eq. 3) and then by `f'(z^(K)) = 1 - tanh(z)^2`, read from the Tanh layer's cached output.
#
# What to expect: exactly the same numbers, bit for bit - the hand version performs the same
# floating-point operations in the same order, so not even rounding may differ.

# %%
dense_idx = [i for i, layer in enumerate(model.layers) if isinstance(layer, tb.Dense)]
hand = {dense_idx[-1]: dlogits}  # the output layer's delta is the loss gradient
for below, above in zip(dense_idx[-2::-1], dense_idx[:0:-1], strict=True):
    W_above = model.layers[above].W
    y_act = model.layers[below + 1].y  # the Tanh right after Dense `below`
    hand[below] = (hand[above] @ W_above) * (1 - y_act * y_act)  # eq. (6)

for i in dense_idx:
    assert np.array_equal(hand[i], engine_deltas[i]), f"layer {i} differs"
print("eq. (6) by hand == engine, bit for bit, at every Dense layer")
for i in dense_idx:
    print(f"  Dense at index {i:2d}: ||delta|| = {np.linalg.norm(hand[i]):.3e}")

# %% [markdown]
# To see the whole backward pass as text, pass `trace=True`: one line per layer, with the
# equation applied, the shapes and the norms of the gradient in and out.

# %%
small = tb.mlp(
    in_features=20,
    hidden=(width,) * 2,
    out_features=10,
    activation="tanh",
    seed=1,
    dtype=np.float64,
)
_, d_small = tb.softmax_cross_entropy(small.forward(x), labels)
grad_x = small.backward(d_small, trace=True)
assert [s.index for s in small.last_trace] == list(range(len(small.layers) - 1, -1, -1))

# %% [markdown]
# ## Gradient-check the whole network
#
# `gradcheck` accepts a whole `Sequential`: it perturbs the input and every parameter. What to
# expect: below 1e-8 - each array's rounding error is about `eps S / h` per entry as in lesson 1,
# a few times 1e-10 relative here, a little more than for one layer because `S` now sums over
# more layers; a bug would show up as an error near 1. (This is float64; the same check in
# float32 is meaningless, with rounding errors of 1e-7 / h ~ 0.1.) We check a small copy
# (2 hidden layers) because gradcheck does two forward passes per parameter.

# %%
result = tb.gradcheck(small, x[:4], seed=4)
print(result)
assert result.worst < 1e-8

# %% [markdown]
# ## What you learned
#
# * An activation's backward is the `∘ f'(z)` of eq. (6); a Dense layer's is the `W^T` of eq. (3).
#   Backpropagation through a deep stack alternates the two - that is all the chain rule does.
# * The trace facility (`trace=callable` or `trace=True`) shows the delta at every layer.
# * `f'(z) <= 1/4` for the sigmoid: every sigmoid layer can shrink the gradient by 4 or more.
#
# ## Exercises
#
# 1. **A bound per layer.** From eq. (6), `||delta^(K)|| <= ||W^(K+1)||_2 * max|f'| *
#    ||delta^(K+1)||` (`||.||_2` is the spectral norm, `np.linalg.norm(W, 2)`). Check this
#    inequality at every layer of a 10-layer *sigmoid* network.
# 2. **Your own activation.** Write `LeakyReLU(alpha=0.01)` as a subclass of
#    `tinybgn.activations.Activation` (define `f` and `f_prime`) and gradient-check it.
# 3. **Numerical care.** Show that the engine's `Sigmoid` agrees with `1 / (1 + exp(-z))` to
#    ~1e-16 on [-30, 30], and that at `z = -1000` the naive formula overflows (a RuntimeWarning)
#    while the engine returns a finite value in [0, 1) without any warning. Read
#    `tinybgn/activations.py` to see how.
#
# Worked solutions: `lessons/solutions/sol02_activations_chain_rule.py`.
#
# **Implement it yourself.** `lessons/exercises/ex02_relu.py` (ReLU's backward, eq. 6) and
# `lessons/exercises/ex02_softmax_cross_entropy.py` (the loss gradient derived above) are stubs
# for you to fill in; `tinybgn lessons check` checks them.
