# %% [markdown]
# # Lesson 7 - Eqs. (7)-(11): BGN is a per-layer learning rate
#
# Put a BGN layer before the activation of layer K and eq. (6) becomes (eqs. 7-8)
#
# $$\delta^{(K)}_{BGN} = \frac{1}{n_K} [W^T \delta^{(K+1)}_{BGN}] \circ f'(z^{(K)}), \qquad
#   n_K = \frac{1}{\kappa} \| [W^T \delta^{(K+1)}_{BGN}] \circ f'(z^{(K)}) \|.$$
#
# BGN's backward is *not* linear in the delta coming from above: `n_K` is computed from that
# delta, so doubling it leaves `delta_BGN^(K)` unchanged. Eq. (9) holds anyway, because once
# `n_K` has been computed it is just a number: with the `n_j` of this backward pass held fixed,
# each step of eq. (8) is `W^T`, then `∘ f'(z)`, then division by a constant - all linear - and
# unrolling it from the output layer down piles the constants up (eq. 9):
#
# $$\delta^{(K)}_{BGN} = \delta^{(K)} \prod_{j=K}^{N} \frac{1}{n_j}
#   \qquad \forall K \in 1, \dots, N.$$
#
# Layers are numbered as in the paper: K = 1 is the input side, N the last hidden layer (the
# last BGN); the output layer, N + 1, has no BGN above it. The BGN network's delta at every
# layer is the plain network's delta times one scalar. Then the weight and bias gradients
# (eqs. 10 and 11)
#
# $$\nabla_W L = \delta^{(K)}_{BGN}\, x^T \quad (10) \qquad
#   \nabla_b L = \delta^{(K)}_{BGN} \quad (11)$$
#
# are the plain gradients times the same scalar: **same direction, a different step size for
# every layer** - a per-layer learning rate. In this lesson you verify all of this numerically,
# to ~1e-9 in float64, and then ask what Adam (lesson 6) does with it.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, mnist_dir, save_figure
from tinybgn.data import load_dataset

SEED = 0
DEPTH = 20  # deep enough that the plain net's first gradients fall far below Adam's eps
WIDTH, BATCH = 64, (32 if FAST else 64)
EPS = np.finfo(np.float64).eps

# %% [markdown]
# ## Data and two twin networks
#
# A batch of real digits (carved from MNIST's 10k test file, see lesson 3), and two sigmoid
# networks built from the same seed: one plain, one with BGN before every activation. BGN layers
# draw no random numbers, so the weights are identical - and since BGN's forward is the
# identity (eq. 4), so are the logits and the loss.

# %%
data = load_dataset("mnist", mnist_dir(), split="carve", seed=SEED, fallback="sample")
x = data.x_train[:BATCH].astype(np.float64)
labels = data.y_train[:BATCH]


def build(bgn):
    return tb.mlp(
        hidden=(WIDTH,) * DEPTH, activation="sigmoid", bgn=bgn, seed=SEED, dtype=np.float64
    )


plain, normed = build(False), build(True)
assert np.array_equal(plain.flat_params, normed.flat_params)
logits_plain, logits_bgn = plain.forward(x), normed.forward(x)
assert np.array_equal(logits_plain, logits_bgn)  # eq. (4): BGN changes nothing forward
loss, dlogits = tb.softmax_cross_entropy(logits_plain, labels)
print(f"{DEPTH} hidden sigmoid layers; same weights, same logits, loss {loss:.4f}")

# %% [markdown]
# ## One backward pass each, traced
#
# The plain net we trace silently with a callback. The BGN net we trace with `trace=True`, so
# you can read eq. (8) at work: each BGN line shows `||g||` and `n_K` and returns norm
# `kappa = 8`.

# %%
plain_steps = []
plain.backward(dlogits, trace=plain_steps.append)
normed.backward(dlogits, trace=True)
bgn_steps = normed.last_trace


def dense_deltas(steps):
    """{the paper's K (1 = input layer, DEPTH + 1 = output layer): delta Dense K received}."""
    found = [s.grad_in for s in steps if isinstance(s.layer, tb.Dense)][::-1]
    return dict(enumerate(found, start=1))


delta_plain, delta_bgn = dense_deltas(plain_steps), dense_deltas(bgn_steps)

# The n_j of the BGN layers, j = 1 .. N = DEPTH: BGN j sits right above Dense j.
n_K = [s.layer.n_K for s in bgn_steps if isinstance(s.layer, tb.BGN)][::-1]
n = dict(enumerate(n_K, start=1))
print("n_j, j = 1 .. N:", np.array2string(np.array(n_K), precision=3, max_line_width=100))

# %% [markdown]
# ## Eq. (9), checked layer by layer
#
# For Dense layer K the predicted scale is the product of `1/n_j` over the BGN layers at and
# above it, `j = K .. N` with `N = DEPTH`; the output layer (K = N + 1) has no BGN above it, so
# its scale is exactly 1.
#
# We measure the actual scale as the least-squares ratio `<delta_BGN, delta> / <delta, delta>`
# and also the residual `||delta_BGN - scale * delta|| / ||delta_BGN||`, which is 0 only if the
# two are exactly parallel. What to expect: both agree with eq. (9) to within `DEPTH * WIDTH *
# eps` (a bound: each layer's matrix product adds up WIDTH terms, each rounded), ~3e-13 here;
# in practice roundings mostly cancel and we see ~1e-15. We assert 1e-9: a wide safety margin
# for cancellation in those sums, yet far below any real discrepancy - the smallest `n_j` here
# is ~0.2, so one missing `1/n_j` would be off by a factor of 4.

# %%
N_BGN = DEPTH  # the paper's N: one BGN per hidden layer
predicted = {K: np.prod([1 / n[j] for j in range(K, N_BGN + 1)]) for K in range(1, N_BGN + 1)}
predicted[N_BGN + 1] = 1.0  # the output Dense layer: no BGN above it
worst = 0.0
for K in range(1, N_BGN + 2):
    a, b = delta_bgn[K], delta_plain[K]
    measured = np.sum(a * b) / np.sum(b * b)
    residual = np.linalg.norm(a - predicted[K] * b) / np.linalg.norm(a)
    err = max(abs(measured / predicted[K] - 1), residual)
    worst = max(worst, err)
    if K % max(1, DEPTH // 5) == 1 or K == N_BGN + 1:
        print(
            f"Dense {K:2d}: measured scale {measured:.6e}   prod 1/n_j {predicted[K]:.6e}   "
            f"rel. difference {err:.1e}"
        )
    assert err < 1e-9, (K, err)
print(f"eq. (9) holds at all {N_BGN + 1} Dense layers; worst relative difference {worst:.1e}")

# %% [markdown]
# ## Eqs. (10) and (11): the weight and bias gradients are parallel
#
# `grad_W = delta x^T` with the *same* input `x` in both nets (the forward passes are
# identical), and `grad_b = delta` (summed over the batch), so eq. (9) carries over to both: the
# cosine between the two nets' gradients is 1 and their norm ratio is the scale. What to
# expect: `1 - cos` below 1e-12 (rounding only), the ratios equal to eq. (9)'s to 1e-9.

# %%
dense_plain = [layer for layer in plain.layers if isinstance(layer, tb.Dense)]
dense_bgn = [layer for layer in normed.layers if isinstance(layer, tb.Dense)]
for K, (lp, lb) in enumerate(zip(dense_plain, dense_bgn, strict=True), start=1):
    for name in ("W", "b"):  # eq. (10), eq. (11)
        gp, gb = lp.grads[name], lb.grads[name]
        cos = np.sum(gp * gb) / (np.linalg.norm(gp) * np.linalg.norm(gb))
        assert 1 - cos < 1e-12, (K, name, cos)
        assert abs(np.linalg.norm(gb) / np.linalg.norm(gp) / predicted[K] - 1) < 1e-9
print(
    "eqs. (10), (11): grad_W and grad_b of the BGN net are parallel to the plain net's "
    "(cos = 1) at every layer, longer by eq. (9)'s factor"
)

# %% [markdown]
# ## So BGN + SGD = SGD with a learning rate per layer
#
# One SGD step on the BGN net with learning rate `lr` moves layer K by `lr * predicted[K] *
# grad_plain`. We check it: give the plain net one SGD optimiser *per layer*, with learning rate
# `lr * predicted[K]`, and compare the weights after one step. What to expect: identical to
# ~1e-9 relative (the same rounding as above).

# %%
lr = 1e-3
tb.SGD(normed.parameters(), lr=lr).step()
for K, layer in enumerate(dense_plain, start=1):
    tb.SGD([(layer.params[k], layer.grads[k]) for k in layer.params], lr=lr * predicted[K]).step()
step_err = max(
    np.linalg.norm(lp.W - lb.W) / np.linalg.norm(lb.W)
    for lp, lb in zip(dense_plain, dense_bgn, strict=True)
)
print(f"after one step, the weights differ by at most {step_err:.1e} (relative)")
assert step_err < 1e-9

# %% [markdown]
# The per-layer learning-rate multipliers are enormous for a deep sigmoid net: BGN undoes the
# factor ~1/4 per layer that lesson 3 measured (plotted at the end of the lesson).

# %% [markdown]
# ## What does Adam do with a per-layer scale?
#
# Adam divides the first moment by the square root of the second: for a gradient multiplied
# by a constant `c > 0`, `m -> c m` and `sqrt(v) -> c sqrt(v)`, so the update
# `lr * m_hat / (sqrt(v_hat) + eps)` does **not change** - except through `eps`. In the very first
# step `m_hat = g` and `v_hat = g^2`, so the update is `lr * g / (|g| + eps)`:
#
# * with `eps = 0` it is `lr * sign(g)` in both nets: BGN's scales cancel completely. (We use
#   `eps = 1e-300` for "zero": with exactly 0, a weight whose gradient is exactly 0 - a pixel
#   that is blank in every image of the batch - would get 0/0 = NaN.);
# * with `eps = 1e-7` - Keras's default, which tinybgn *assumes*: the paper does not state its
#   `eps` - a weight whose gradient is far below `1e-7` moves by `lr * |g| / 1e-7` - almost
#   nothing. In the plain sigmoid net the first layers' gradients are ~1e-12, so Adam leaves
#   them frozen; BGN lifts them above `eps`.
#
# (Beyond the first step the cancellation is only partial: BGN's `n_j` change from batch to
# batch, and Adam cancels a *constant* scale, not a varying one.)
#
# **Which `eps`?** This analysis uses Algorithm 1's form, `m_hat / (sqrt(v_hat) + eps)`, which
# `tb.Adam` (and PyTorch) compute. Keras adds its `eps` to `sqrt(v)` *before* the bias
# correction; written in Algorithm 1's form that is a step-dependent
# `eps_t = eps / sqrt(1 - beta2^t)` (lesson 6, exercise 3): 31.6 times larger at the first
# step, `3.2e-6` for `eps = 1e-7`, approaching `eps` after a few thousand steps. So with
# Keras's arithmetic the threshold below which Adam freezes a weight starts 30 times higher;
# the plain net's first layers (~1e-12) are frozen under either form, while BGN's gradients
# (a few times 1e-6 here) sit near Keras's first-step threshold rather than far above it. We
# compute both below.


# %%
def first_adam_update(eps):
    """One Adam step on fresh plain and BGN nets: {name: mean |dW| per Dense layer} and
    {name + " change": the change of every parameter}."""
    sizes = {}
    for name, bgn in (("plain", False), ("BGN", True)):
        net = build(bgn)
        _, d = tb.softmax_cross_entropy(net.forward(x), labels)
        net.backward(d)
        dense = [layer for layer in net.layers if isinstance(layer, tb.Dense)]
        W_before, all_before = [layer.W.copy() for layer in dense], net.flat_params.copy()
        tb.Adam(net.parameters(), lr=lr, eps=eps).step()
        sizes[name] = np.array(
            [np.abs(la.W - W0).mean() for la, W0 in zip(dense, W_before, strict=True)]
        )
        sizes[name + " change"] = net.flat_params - all_before
        sizes[name + " input layer"] = (dense[0].W - W_before[0], dense[0].grads["W"].copy())
    return sizes


no_eps, keras_eps = first_adam_update(1e-300), first_adam_update(1e-7)
assert np.allclose(no_eps["plain change"], no_eps["BGN change"], rtol=1e-12, atol=0)
print("Adam, eps ~ 0: the first update is identical with and without BGN (lr * sign(g))")
print(
    f"Adam, eps = 1e-7: mean |dW| of the input layer: plain {keras_eps['plain'][0]:.2e}, "
    f"BGN {keras_eps['BGN'][0]:.2e}  (lr = {lr:g})"
)
# Input layer, weight by weight. (Pixels blank in every image of the batch get an exactly zero
# gradient and do not move in either net; we look at the others.)
dW_bgn, g_bgn = keras_eps["BGN input layer"]
dW_plain, g_plain = keras_eps["plain input layer"]
live = g_bgn != 0
print(
    f"  weights with a non-zero gradient: {live.mean():.0%};  their |g|: BGN >= "
    f"{np.abs(g_bgn[live]).min():.1e}, plain <= {np.abs(g_plain).max():.1e}"
)
assert np.array_equal(live, g_plain != 0)  # eq. (9): same zeros
# First step: |dW| = lr |g| / (|g| + eps) exactly (m_hat = g, v_hat = g^2). Reading dW as
# W_after - W_before costs ~ulp(W) / |dW| ~ 1e-14 relative, hence rtol 1e-10.
assert np.allclose(np.abs(dW_bgn), lr * np.abs(g_bgn) / (np.abs(g_bgn) + 1e-7), rtol=1e-10, atol=0)
assert np.all(np.abs(dW_bgn[live]) > 0.95 * lr)  # |g| >= 3e-6 >> eps: nearly a full step lr
assert np.abs(dW_plain).max() < 1e-3 * lr  # |g| <= 1e-12 << eps: frozen

# The same first step in Keras's arithmetic: eps_1 = eps / sqrt(1 - beta2) in Algorithm 1's form.
eps_keras_1 = 1e-7 / np.sqrt(1 - 0.999)
keras_step_bgn = lr * np.abs(g_bgn[live]) / (np.abs(g_bgn[live]) + eps_keras_1)
keras_step_plain = lr * np.abs(g_plain) / (np.abs(g_plain) + eps_keras_1)
print(
    f"  in Keras's form (eps_1 = {eps_keras_1:.1e}): BGN's live input weights move "
    f"{keras_step_bgn.min() / lr:.2f} .. {keras_step_bgn.max() / lr:.2f} lr, plain's at most "
    f"{keras_step_plain.max() / lr:.0e} lr"
)
assert keras_step_plain.max() < 1e-3 * lr  # frozen under either form
assert np.median(keras_step_bgn) > 0.5 * lr  # BGN: most still move by more than half a step

# %% [markdown]
# ## Both pictures
#
# Left, eq. (9)'s per-layer learning-rate multipliers; right, the first Adam step per layer.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
Ks = np.arange(1, N_BGN + 2)
axes[0].semilogy(Ks, [predicted[K] for K in Ks], "o-")
axes[0].set(title="eq. (9): learning-rate multiplier prod 1/n_j", xlabel="Dense layer K")
axes[1].semilogy(Ks, keras_eps["plain"], "o-", label="plain, eps=1e-7")
axes[1].semilogy(Ks, keras_eps["BGN"], "s-", label="BGN, eps=1e-7")
axes[1].semilogy(Ks, no_eps["plain"], "k--", lw=0.8, label="either, eps~0")
axes[1].set(title="first Adam step: mean |dW| per layer", xlabel="Dense layer K")
axes[1].legend()
fig.tight_layout()
save_figure(fig, "07_learning_rates.png")

# %% [markdown]
# ## What you learned
#
# * Eq. (9) is exact: every delta of a BGN network is the plain delta times `prod 1/n_j` - the
#   numbers agree to ~1e-15 in float64.
# * Hence eqs. (10) and (11): same gradient directions, per-layer step sizes. BGN + SGD is SGD
#   with a learning rate per layer, which you reproduced with one SGD optimiser per layer.
# * Adam already divides out a constant per-layer scale; what BGN changes under Adam is (a) the
#   layers whose gradients would sit below `eps`, and (b) how the scale varies across batches.
#
# ## Exercises
#
# 1. **Eq. (9) with BatchNorm.** BatchNorm's backward is linear in its incoming gradient too.
#    Verify eq. (9) for `mlp(..., batchnorm=True, bgn=True)` against `batchnorm=True, bgn=False`.
# 2. **A BGN before the softmax.** With `bgn_output=True` the output layer gets a BGN as well.
#    Which scale does the output Dense layer get now? Verify that eq. (9) still holds everywhere
#    with the extra factor.
# 3. **Constant versus varying scale.** Run 10 Adam steps (eps ~ 0) on a small net twice: once
#    with its gradients, once with every gradient multiplied by 1e6 before each step. Show that
#    the weights end up identical - and that with eps = 1e-7 and a factor 1e-9 they do not.
#
# Worked solutions: `lessons/solutions/sol07_bgn_learning_rates.py`.
