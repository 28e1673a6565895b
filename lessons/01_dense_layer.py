# %% [markdown]
# # Lesson 1 - One Dense layer: eqs. (1)-(3), checked by finite differences
#
# Section 2 of Cabana & Lago-Fernandez (2021) starts from the simplest layer there is, a
# dense layer without activation, `z = W x + b`. On the backward pass it receives
# `delta = dL/dz` and has two jobs:
#
# $$\nabla_W L = \delta\, x^T \quad (1) \qquad \nabla_b L = \delta \quad (2) \qquad
#   \nabla_x L = W^T \delta \quad (3)$$
#
# (1) and (2) are what the optimiser needs; (3) is what the layer *below* needs. In this lesson
# you will
#
# 1. run `tinybgn.Dense` forward and check it against the paper's column-vector form;
# 2. compute eqs. (1)-(3) by hand for a batch and compare them with `Dense.backward`;
# 3. check the whole thing against **central finite differences**, and learn how small the
#    error should be - so that "relative error 3e-10" means something to you.
#
# Run it with `python lessons/01_dense_layer.py`, or open it as a notebook (see
# `lessons/README.md`). Nothing here needs a GPU or the internet.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, save_figure

rng = np.random.default_rng(0)
EPS = np.finfo(np.float64).eps  # 2.2e-16: the relative rounding error of one float64 operation
print(f"fast mode: {FAST}")

# %% [markdown]
# ## Data and model
#
# A batch of N = 5 samples with 4 features each, and a layer with 3 outputs. The code keeps
# one sample per **row**, so the paper's column form `z = W x + b` becomes `z = x W^T + b` for
# the whole batch. We use float64 throughout this lesson: finite differences need it.

# %%
N, n_in, n_out = 5, 4, 3
x = rng.standard_normal((N, n_in))
layer = tb.Dense(n_in, n_out, rng=rng, dtype=np.float64)
layer.params["b"][:] = rng.standard_normal(n_out)  # a non-zero bias, so eq. (2) is visible
print("W shape", layer.W.shape, " b shape", layer.b.shape)

z = layer.forward(x)
print("z shape", z.shape)

# %% [markdown]
# Each row of `z` must be the paper's `W x_n + b` for that sample's column vector `x_n`. The two
# ways add the same products in possibly different orders, so we expect agreement to within
# a few units of float64 rounding: `np.allclose` with `rtol=0` and `atol = 8 eps max|terms|`.

# %%
z_by_column = np.stack([layer.W @ x[n] + layer.b for n in range(N)])
terms = np.abs(layer.W) @ np.abs(x).T  # sizes of the summed products, one column per sample
atol = 8 * EPS * (terms.max() + np.abs(layer.b).max())
assert np.allclose(z, z_by_column, rtol=0, atol=atol)
print("forward matches the column form; max difference", np.abs(z - z_by_column).max())

# %% [markdown]
# ## A loss with a known gradient
#
# To test a backward pass we need *some* scalar loss. We take `L = sum(z * dy)` with a
# **random** `dy`. Then `dL/dz = dy` exactly, so `backward(dy)` must return `dL/dx`. This is a
# *vector-Jacobian product*: a layer's backward never builds the Jacobian `dz/dx`, it only
# multiplies a vector by it. A random `dy` matters: with `dy = 1` some wrong backward passes
# still give the right answer by accident (lesson 5 shows one).

# %%
dy = rng.standard_normal(z.shape)  # this plays delta = dL/dz
loss = float(np.sum(z * dy))
grad_x = layer.backward(dy)
print(
    f"L = {loss:.6f};  grads: W {layer.grads['W'].shape}, b {layer.grads['b'].shape}, "
    f"x {grad_x.shape}"
)

# %% [markdown]
# ## Eqs. (1)-(3) by hand
#
# For one sample, eq. (1) is the outer product `delta_n x_n^T`; for a batch the loss is a sum
# over samples, so the gradients add up. Eq. (3) is applied to each sample separately.
#
# What to expect: the hand results add the same products in a different order, and summing
# `N` terms in two orders can differ by at most about `2 (N - 1) eps * sum|terms|` per entry.
# We assert exactly that bound, entry by entry.

# %%
grad_W_hand = sum(np.outer(dy[n], x[n]) for n in range(N))  # eq. (1), summed over samples
grad_b_hand = sum(dy[n] for n in range(N))  # eq. (2)
grad_x_hand = np.stack([layer.W.T @ dy[n] for n in range(N)])  # eq. (3), per sample

bound_W = 2 * (N - 1) * EPS * (np.abs(dy).T @ np.abs(x))
bound_b = 2 * (N - 1) * EPS * np.abs(dy).sum(axis=0)
bound_x = 2 * (n_out - 1) * EPS * (np.abs(dy) @ np.abs(layer.W))
assert np.all(np.abs(layer.grads["W"] - grad_W_hand) <= bound_W)
assert np.all(np.abs(layer.grads["b"] - grad_b_hand) <= bound_b)
assert np.all(np.abs(grad_x - grad_x_hand) <= bound_x)
print("eqs. (1)-(3) by hand agree with Dense.backward within the rounding bound")

# %% [markdown]
# ## Finite differences, one number at a time
#
# The derivative of `L` with respect to one weight `W[i, j]` is approximately
#
# $$\frac{L(W_{ij} + h) - L(W_{ij} - h)}{2h}.$$
#
# How wrong is that? Two errors compete:
#
# * **truncation**: Taylor's theorem gives an error `h^2 L''' / 6`. For a Dense layer `L` is
#   linear in each weight, so `L''' = 0` and this error vanishes;
# * **rounding**: each `L` is computed with an absolute error of about `eps * S`, where
#   `S = sum |z * dy|` is the size of the terms added up to make `L`; dividing by `2h` turns
#   that into an error of about `eps * S / h` in the derivative.
#
# With `h = 1e-6` we therefore expect an absolute error near `eps * S / h`, i.e. about 1e-9 here.

# %%
h = 1e-6
i, j = 1, 2
W = layer.params["W"]
old = W[i, j]
W[i, j] = old + h
L_plus = float(np.sum(layer.forward(x) * dy))
W[i, j] = old - h
L_minus = float(np.sum(layer.forward(x) * dy))
W[i, j] = old  # always restore what you perturb
numeric = (L_plus - L_minus) / (2 * h)
analytic = layer.grads["W"][i, j]
S = float(np.sum(np.abs(z * dy)))
print(
    f"dL/dW[{i},{j}]: analytic {analytic:.12f}  numeric {numeric:.12f}  "
    f"|diff| {abs(analytic - numeric):.1e}  (rounding estimate eps*S/h = {EPS * S / h:.1e})"
)
assert abs(analytic - numeric) < 10 * EPS * S / h

# %% [markdown]
# ## `tinybgn.gradcheck`: every entry at once
#
# `gradcheck(layer, x)` repeats this for every entry of `x`, `W` and `b` with a random `dy`
# and reports the **relative** error `||a - n|| / (||a|| + ||n||)` of each array. The
# per-entry rounding error `eps * S / h` becomes, for an array of `P` entries, at most about
# `sqrt(P) eps S / h` in norm. What to expect: each relative error is below that estimate
# divided by the gradient's norm - around 1e-10, far below the 1e-1...1 a wrong backward gives.

# %%
result = tb.gradcheck(layer, x, seed=1)
print(result)
layer.forward(x)
dy1 = np.random.default_rng(1).standard_normal(z.shape)  # gradcheck's dy for seed=1
S1 = float(np.sum(np.abs(layer.forward(x) * dy1)))
grad_x1 = layer.backward(dy1)
for name, grad in (("x", grad_x1), ("W", layer.grads["W"]), ("b", layer.grads["b"])):
    predicted = np.sqrt(grad.size) * EPS * S1 / h / np.linalg.norm(grad)
    print(f"  {name}: measured {result.errors[name]:.1e}  rounding estimate {predicted:.1e}")
    assert result.errors[name] < predicted

# %% [markdown]
# ## Choosing h: the V-shaped error curve
#
# For a *non-linear* function truncation comes back. We stack a `Tanh` on the layer and measure
# the relative error of `dL/dx` for many step sizes. What to expect: for large `h` the error
# falls like `h^2` (truncation); as `h` shrinks below the optimum it grows again, roughly like
# `1/h` (rounding), until it levels off when the two evaluations `L(x + h)` and `L(x - h)` round
# almost identically. The best `h` balances the two near `eps^(1/3)`, about 6e-6.

# %%
net = tb.Sequential([tb.Dense(n_in, n_out, rng=rng, dtype=np.float64), tb.Tanh()])
hs = np.logspace(-12, -1, 12 if FAST else 34)
errors = np.array([tb.gradcheck(net, x, h=float(step), seed=2).errors["x"] for step in hs])
best_h = hs[np.argmin(errors)]
print(f"smallest error {errors.min():.1e} at h = {best_h:.1e};  eps^(1/3) = {EPS ** (1 / 3):.1e}")

fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.loglog(hs, errors, "o-", label="measured")
k = np.argmin(np.abs(np.log(hs / 1e-8)))  # anchor the reference slopes on measured points
ax.loglog(hs, errors[k] * hs[k] / hs, "--", label="rounding ~ 1/h")
ax.loglog(hs, errors[-1] * (hs / hs[-1]) ** 2, ":", label="truncation ~ h^2")
ax.axvline(EPS ** (1 / 3), color="gray", lw=0.8)
ax.set(
    xlabel="step h",
    ylabel="relative error of dL/dx",
    title="Finite differences: pick h",
    ylim=(errors.min() / 10, 1),
)
ax.legend()
save_figure(fig, "01_fd_error_vs_h.png")

# The two slopes, asserted: the error at the smallest h is rounding-dominated (grows as h
# shrinks), the one at the largest is truncation-dominated, and the minimum sits in between.
assert errors[0] > 100 * errors.min() and errors[-1] > 100 * errors.min()
assert 1e-8 <= best_h <= 1e-3

# %% [markdown]
# ## What you learned
#
# * `Dense.backward(delta)` applies eqs. (1)-(3); the batch form sums eq. (1) and (2) over the
#   samples.
# * A gradient check is a vector-Jacobian product with a random `dy`.
# * Float64 central differences with `h ~ 1e-6` agree with a correct backward to about 1e-10
#   (relative): rounding `eps S / h` plus truncation `h^2`. A bug gives errors near 1.
#
# ## Exercises
#
# 1. **Bigger batches add up.** Stack the batch twice (`np.vstack([x, x])`, same for `dy`).
#    Predict what happens to `grads["W"]`, `grads["b"]` and to each row of `grad_x`, then check.
# 2. **Catch a bug.** For a *square* layer (4 -> 4), a backward that returns `delta @ W.T`
#    instead of `delta @ W` runs without any shape error. Write that buggy layer as a subclass of
#    `tb.Dense` and show that `gradcheck` catches it (relative error of `x` above 0.1).
# 3. **Linear means no truncation.** Measure gradcheck's error for the plain Dense layer at
#    `h = 1e-2` and `h = 1e-6`. Explain why the large step is *not* worse here, unlike the
#    `Tanh` net above.
#
# Worked solutions: `lessons/solutions/sol01_dense_layer.py`.
#
# **Implement it yourself.** `lessons/exercises/ex01_dense.py` leaves `Dense.backward` (eqs.
# 1-3) to you; `tinybgn lessons check` (or running the file) checks it against finite
# differences and `tb.Dense`, and tells you the error and what it should be.
