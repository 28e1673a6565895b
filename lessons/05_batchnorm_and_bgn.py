# %% [markdown]
# # Lesson 5 - BatchNorm forward and backward, and BatchNorm + BGN
#
# Batch normalisation (Ioffe & Szegedy, 2015) is the paper's point of comparison. It
# normalises each feature *over the batch* on the forward pass, then scales and shifts:
#
# $$\mu = \tfrac1N \sum_n x_n, \quad \sigma^2 = \tfrac1N \sum_n (x_n - \mu)^2, \quad
#   \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad y = \gamma \hat x + \beta.$$
#
# Because every output depends on every sample of the batch (through `mu` and `sigma`), the
# backward pass has two extra terms. With `g = dL/dy` and `g_hat = gamma * g`:
#
# $$\frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2+\epsilon}}\Big(\hat g
#   - \underbrace{\mathrm{mean}_n \hat g}_{\text{through } \mu}
#   - \hat x\, \underbrace{\mathrm{mean}_n(\hat g\, \hat x)}_{\text{through } \sigma}\Big).$$
#
# In this lesson you check BatchNorm's forward statistics and its backward, meet the classic
# testing trap (an upstream gradient of all ones), and then reproduce the BN curves of the
# paper's Figure 1: BN alone makes the deltas *grow* towards the input; BN + BGN holds them flat.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, mnist_dir, save_figure
from tinybgn.data import load_dataset

rng = np.random.default_rng(0)
EPS = np.finfo(np.float64).eps
DEPTH = 30 if FAST else 90
BATCH = 32 if FAST else 128

# %% [markdown]
# ## Forward: what BatchNorm does to a batch
#
# BatchNorm's `epsilon` and the momentum of its running statistics are not given in the paper;
# tinybgn *assumes* Keras's defaults, `epsilon = 1e-3` and `momentum = 0.99`.
#
# What to expect, for a batch of 16 samples with 5 features of very different scales (all
# centred at 3): each feature of `x_hat` has mean 0 up to the rounding of `x - mu`, which is
# about `eps |x|` (here `eps` is float64's 2.2e-16), magnified by `1/sqrt(sigma^2 + epsilon)` -
# so below `4 eps max|x| inv_std`. Its variance is `sigma^2 / (sigma^2 + epsilon)`, to ~1e-13:
# close to 1 only for a feature whose variance is far above `epsilon`. The first feature (drawn
# with standard deviation 0.01: a variance of order 1e-4, *below* `epsilon`) comes out with a
# variance far below 1 - about 0.03 here - so BatchNorm does *not* standardise features smaller than
# `sqrt(epsilon) = 0.03`; the other four (variance 1e-2 and up) land between 0.9 and 1.
# The running statistics move 1% of the way towards the batch's (`momentum = 0.99`).

# %%
x = rng.standard_normal((16, 5)) * np.array([0.01, 0.1, 1, 10, 100]) + 3.0
bn = tb.BatchNorm(5, dtype=np.float64)
y = bn.forward(x)
mu, var = x.mean(axis=0), x.var(axis=0)  # biased variance, as BatchNorm uses
print("per-feature std of x:     ", np.round(x.std(axis=0), 4))
print("per-feature mean of x_hat:", bn.x_hat.mean(axis=0))
print("per-feature var  of x_hat:", bn.x_hat.var(axis=0))
assert np.all(np.abs(bn.x_hat.mean(axis=0)) < 4 * EPS * np.abs(x).max(axis=0) * bn.inv_std)
assert np.allclose(bn.x_hat.var(axis=0), var / (var + bn.eps), rtol=1e-13, atol=0)
assert bn.eps == 1e-3 and var[0] < bn.eps and bn.x_hat.var(axis=0)[0] < 0.1  # not standardised
assert np.all((bn.x_hat.var(axis=0)[1:] > 0.9) & (bn.x_hat.var(axis=0)[1:] < 1))
assert np.allclose(bn.buffers["running_mean"], 0.01 * mu, rtol=1e-14, atol=0)
assert np.allclose(y, bn.x_hat, rtol=0, atol=0)  # gamma = 1, beta = 0 at the start

# %% [markdown]
# ## Backward, checked by finite differences
#
# BatchNorm mixes the samples, so the finite-difference check is the only easy way to be sure
# of the two extra terms. What to expect: relative errors around 1e-9 (the same rounding
# analysis as lesson 1), for `x`, `gamma` and `beta`. Note the random `dy`, and `gamma`, `beta`
# set away from 1 and 0 so that their gradients are not special.

# %%
bn = tb.BatchNorm(5, dtype=np.float64)
bn.params["gamma"][:] = rng.uniform(0.5, 2.0, 5)
bn.params["beta"][:] = rng.standard_normal(5)
x = rng.standard_normal((16, 5))
result = tb.gradcheck(bn, x, seed=1)
print(result)
assert result.worst < 1e-8

# %% [markdown]
# ## The trap: testing with `dy = 1`
#
# Take `L = sum(y)`: since `x_hat` has mean zero over the batch, `sum(y) = N * sum(beta)` does
# not depend on `x` at all, so the true `dL/dx` is **0**. A BatchNorm that forgets the
# variance term - a common bug - also returns (nearly) 0 for `dy = 1`, and passes. Below, such a
# buggy layer, written as a subclass. What to expect: with `dy = 1` both give `max|dx| ~ 1e-16`
# (indistinguishable); with a random `dy` gradcheck gives ~1e-10 for the real one and an error
# of order 0.1 - 1 for the buggy one.


# %%
class ForgetfulBatchNorm(tb.BatchNorm):
    """BatchNorm whose backward drops the term that flows through sigma (a deliberate bug)."""

    def backward(self, grad):
        super().backward(grad)  # sets grads["gamma"], grads["beta"] correctly
        g_hat = grad * self.params["gamma"]
        return self.inv_std * (g_hat - g_hat.mean(axis=0))  # BUG: no x_hat * mean(g_hat x_hat)


ones = np.ones((16, 5))
for layer in (tb.BatchNorm(5, dtype=np.float64), ForgetfulBatchNorm(5, dtype=np.float64)):
    layer.forward(x)
    dx_ones = layer.backward(ones)
    check = tb.gradcheck(layer, x, seed=2)
    print(
        f"{type(layer).__name__:20s} dy = 1: max|dx| = {np.abs(dx_ones).max():.1e}   "
        f"random dy: gradcheck error on x = {check.errors['x']:.1e}"
    )
    assert np.abs(dx_ones).max() < 1e-14  # both look right with dy = 1
    if isinstance(layer, ForgetfulBatchNorm):
        assert check.errors["x"] > 0.01  # ...only a random dy exposes the bug
    else:
        assert check.errors["x"] < 1e-8

# %% [markdown]
# ## Two exact properties of BatchNorm's backward
#
# From the formula, `dL/dx` has, for every feature, **zero sum over the batch** and **zero
# correlation with `x_hat`** (the two subtracted means remove exactly those components; with
# `eps > 0` the second holds only approximately, since `mean(x_hat^2) = sigma^2 / (sigma^2 +
# eps)`, not 1). What to expect: the column sums below are ~1e-16 in size.

# %%
bn = tb.BatchNorm(5, dtype=np.float64)
bn.forward(x)
dx = bn.backward(rng.standard_normal((16, 5)))
print("sum_n dx_n per feature:", dx.sum(axis=0))
assert np.all(np.abs(dx.sum(axis=0)) < 16 * 4 * EPS * np.abs(dx).max(axis=0))

# %% [markdown]
# ## Figure 1 with BatchNorm
#
# Now the gradient flow of 90-layer networks (hidden blocks `Dense -> BN -> [BGN] ->
# activation`) on a batch of real digits, measured at every Dense layer with the trace
# callback, as in lesson 3. The paper (section 3.2): "Batch normalization affects delta by
# increasing the gradient norm with the layer depth. This effect is more pronounced for ReLU and
# tanh units, and almost imperceptible for the sigmoid. When BGN and BN are used in conjunction,
# the plots flatten."

# %%
data = load_dataset("mnist", mnist_dir(), split="carve", seed=0, fallback="sample")
xb = data.x_train[:BATCH].astype(np.float64)
yb = data.y_train[:BATCH]


def delta_norms(activation, batchnorm, bgn):
    """||delta|| at every Dense layer (input first), and the norms of the gradients entering
    the BN layers."""
    model = tb.mlp(
        hidden=(64,) * DEPTH,
        activation=activation,
        batchnorm=batchnorm,
        bgn=bgn,
        seed=0,
        dtype=np.float64,
    )
    _, dlogits = tb.softmax_cross_entropy(model.forward(xb), yb)
    dense, into_bn = [], []

    def record(step):
        if isinstance(step.layer, tb.Dense):
            dense.append(step.norm_in)
        elif isinstance(step.layer, tb.BatchNorm):
            into_bn.append(step.norm_in)

    model.backward(dlogits, trace=record)
    return np.array(dense[::-1]), np.array(into_bn)


configs = {
    "no normalisation": (False, False),
    "BGN": (False, True),
    "BN": (True, False),
    "BN + BGN": (True, True),
}
colors = {
    "no normalisation": "tab:blue",
    "BGN": "goldenrod",
    "BN": "tab:green",
    "BN + BGN": "tab:red",
}
norms = {
    (act, name): delta_norms(act, *flags)
    for act in ("relu", "sigmoid", "tanh")
    for name, flags in configs.items()
}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, act in zip(axes, ("relu", "sigmoid", "tanh"), strict=True):
    for name in configs:
        ax.semilogy(np.arange(1, DEPTH + 2), norms[(act, name)][0], color=colors[name], label=name)
    ax.set(title=f"{act}: ||delta^(K)||", xlabel="layer K (1 = input side)")
axes[0].legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "05_gradients_with_batchnorm.png")

# %% [markdown]
# What to expect, in numbers (over the hidden layers, `spread` = largest / smallest `||delta||`):
#
# * **BN alone** grows the deltas towards the input: for ReLU and tanh, `||delta^(1)||` is more
#   than 10 times `||delta^(DEPTH)||`;
# * **BN + BGN** is flat: the spread stays below 3 for all three activations, while BN alone
#   spreads over orders of magnitude for ReLU;
# * in BN + BGN, the gradient entering each BatchNorm is BGN's output, of norm exactly
#   `kappa = 8`; BN's backward then changes it a little, which is why the Dense deltas are
#   not *exactly* 8 here, unlike lesson 3.

# %%
for act in ("relu", "sigmoid", "tanh"):
    bn_only, both = norms[(act, "BN")][0][:-1], norms[(act, "BN + BGN")][0][:-1]
    print(
        f"{act:8s} BN: delta^(1) / delta^({DEPTH}) = {bn_only[0] / bn_only[-1]:9.2e};  "
        f"spread BN {bn_only.max() / bn_only.min():9.2e}, BN + BGN {both.max() / both.min():.2f}"
    )
    assert both.max() / both.min() < 3
    into_bn = norms[(act, "BN + BGN")][1]
    assert np.all(np.abs(into_bn / 8 - 1) < BATCH * 64 * EPS)
    if act in ("relu", "tanh"):
        assert bn_only[0] / bn_only[-1] > 10
relu_bn = norms[("relu", "BN")][0][:-1]
assert relu_bn.max() / relu_bn.min() > 100

# %% [markdown]
# ## What you learned
#
# * BatchNorm's backward has a term through the mean and one through the variance; gradcheck
#   with a random `dy` checks both. With `dy = 1` the true gradient is 0 and bugs hide.
# * BN's input gradient sums to zero over the batch, feature by feature.
# * In deep nets BN alone lets the deltas grow towards the input; BGN on top keeps them flat.
#
# ## Exercises
#
# 1. **Evaluation mode.** With `training=False` BatchNorm uses its running statistics, so it
#    is a fixed affine map per feature. Gradient-check it in evaluation mode
#    (`tb.gradcheck(bn, x, training=False)`), and show its input gradient is simply
#    `gamma * inv_std * dy`.
# 2. **Biases before BN never learn.** Use the zero-sum property to predict the gradient of the
#    bias `b` of a Dense layer followed by BatchNorm. Check it in `tb.mlp(..., batchnorm=True)`.
# 3. **Scale invariance.** With a tiny BN `eps` (say `1e-12`), multiplying the weights of the
#    Dense layer before BN by `c = 5` leaves the network's output unchanged and divides that
#    layer's weight gradient by `c`. Verify both. Why does this make BN + a weight-scale-sensitive
#    rule like SGD behave differently from Adam?
#
# Worked solutions: `lessons/solutions/sol05_batchnorm_and_bgn.py`.
#
# **Implement it yourself.** `lessons/exercises/ex05_batchnorm.py` leaves BatchNorm's backward
# to you; `tinybgn lessons check` checks it by finite differences (with a random `dy`) and
# against `tb.BatchNorm`.
