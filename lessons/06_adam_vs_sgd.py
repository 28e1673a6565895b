# %% [markdown]
# # Lesson 6 - Adam, Algorithm 1, against SGD
#
# The paper trains every network with Adam (Kingma & Ba, 2015), and lesson 7 will show how
# Adam's normalisation interacts with BGN's - through the `m_hat`, `v_hat` and `eps` you meet
# here. You see what Adam's moments are - weighted means of past gradients - and check
# `tinybgn.Adam` against them number for number, write Algorithm 1 yourself in an exercise, and
# then train the same network on real digits with plain SGD and with Adam.
#
# The paper does not give Adam's settings beyond the learning rate; tinybgn *assumes* Keras's
# defaults, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-7` (PyTorch's `eps` is 1e-8).
#
# Algorithm 1, for a parameter `theta` with gradient `g` at step `t`:
#
# ```
# t = t + 1                                  # first, so t = 1 at the first step
# m = beta1 m + (1 - beta1) g                # moving average of g
# v = beta2 v + (1 - beta2) g^2              # moving average of g^2
# m_hat = m / (1 - beta1^t)                  # bias corrections: m, v start at 0
# v_hat = v / (1 - beta2^t)
# theta = theta - lr m_hat / (sqrt(v_hat) + eps)
# ```
#
# SGD, for comparison, is `theta = theta - lr g`.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, mnist_dir, save_figure
from tinybgn.data import batches, load_dataset

SEED = 0
rng = np.random.default_rng(SEED)
EPS = np.finfo(np.float64).eps

# %% [markdown]
# ## What the moments are: weighted means of the past gradients
#
# Unroll the recursion for `m`, starting from `m = 0`: after `t` steps
#
# $$m_t = (1 - \beta_1) \sum_{s=1}^{t} \beta_1^{t-s} g_s, \qquad
#   \hat m_t = \frac{m_t}{1 - \beta_1^t}
#   = \frac{\sum_{s=1}^{t} \beta_1^{t-s} g_s}{\sum_{s=1}^{t} \beta_1^{t-s}},$$
#
# because `(1 - beta1) sum_s beta1^(t-s) = 1 - beta1^t`. So `m_hat` is a weighted *mean* of the
# gradients seen so far, recent ones weighing most; the bias correction is exactly the division
# by the sum of the weights that `m = 0` at the start leaves out. Likewise `v_hat` is a weighted
# mean of the `g^2`, with weights `beta2^(t-s)`. Writing the recursion of Algorithm 1 yourself
# is an exercise (`lessons/exercises/ex06_adam.py`, checked by `tinybgn lessons check`); here we
# compute Adam from these weighted means instead - a different route to the same numbers.


# %%
def adam_from_weighted_means(theta0, gradients, lr, beta1=0.9, beta2=0.999, eps=1e-7):
    """The parameters after each of len(gradients) Adam steps, from the unrolled moments."""
    theta, path = theta0.copy(), []
    for t in range(1, len(gradients) + 1):
        w1 = beta1 ** np.arange(t - 1, -1, -1.0)  # beta1^(t-s) for s = 1 .. t
        w2 = beta2 ** np.arange(t - 1, -1, -1.0)
        m_hat = np.tensordot(w1, gradients[:t], axes=1) / w1.sum()
        v_hat = np.tensordot(w2, gradients[:t] ** 2, axes=1) / w2.sum()
        theta -= lr * m_hat / (np.sqrt(v_hat) + eps)
        path.append(theta.copy())
    return np.array(path)


# %% [markdown]
# ## Weighted means == `tinybgn.Adam`
#
# Train a small network for `T` steps with `tb.Adam`, keeping the gradient of every step and
# the parameters after it; then replay the same gradients through the weighted means. What to
# expect: agreement to rounding. A weighted sum of `t` terms carries a rounding error of about
# `t eps` times the weighted sum of `|g|`, which is at most `sqrt(v_hat)`; the step factor
# `|m_hat| / sqrt(v_hat)` is at most `(1 - beta1) / sqrt((1 - beta2)(1 - beta1^2 / beta2))`,
# about 7.3 (Cauchy-Schwarz on the two sets of weights). So step `t` may differ by about
# `7.3 (t + 8) eps lr`, plus one rounding of `theta` per step: after `T` steps at most
# `7.3 lr eps (T^2 / 2 + 8 T) + T eps max|theta|`.


# %%
def small_net():
    return tb.mlp(
        in_features=20,
        hidden=(32, 32),
        out_features=10,
        activation="tanh",
        seed=SEED,
        dtype=np.float64,
    )


net = small_net()
lr, T = 1e-2, 50
engine = tb.Adam(net.parameters(), lr=lr)
xs, ys = rng.standard_normal((T, 16, 20)), rng.integers(0, 10, (T, 16))
theta0, gradients, engine_path = net.flat_params.copy(), [], []
for t in range(T):
    _, d = tb.softmax_cross_entropy(net.forward(xs[t]), ys[t])
    net.backward(d)
    gradients.append(net.flat_grads.copy())
    engine.step()
    engine_path.append(net.flat_params.copy())
replayed = adam_from_weighted_means(theta0, np.array(gradients), lr)
worst = np.abs(replayed - np.array(engine_path)).max()
bound = 7.3 * lr * EPS * (T * T / 2 + 8 * T) + T * EPS * np.abs(np.array(engine_path)).max()
print(f"after {T} steps: largest difference {worst:.1e}  (rounding bound {bound:.1e})")
assert worst <= bound

# %% [markdown]
# ## The first step is `lr * sign(g)`
#
# At `t = 1`, `m_hat = g` and `v_hat = g^2`, so the update is `lr * g / (|g| + eps)`: every
# weight with `|g| >> eps` moves by almost exactly `lr`, however large or small its gradient.
# That is why "t is incremented before use" matters: starting from `t = 0` would divide by
# `1 - beta^0 = 0`. What to expect: `|dtheta| = lr |g| / (|g| + eps)` to ~1e-12 relative
# (reading `dtheta` as a difference of two weights costs `ulp(theta) / |dtheta|`).

# %%
net = small_net()
_, d = tb.softmax_cross_entropy(net.forward(xs[0]), ys[0])
net.backward(d)
before, g = net.flat_params.copy(), net.flat_grads.copy()
tb.Adam(net.parameters(), lr=lr).step()
step = np.abs(net.flat_params - before)
expected = lr * np.abs(g) / (np.abs(g) + 1e-7)
assert np.allclose(step, expected, rtol=1e-12, atol=0)
print(
    f"first Adam step: |dtheta| / lr between {np.min(step / lr):.4f} and "
    f"{np.max(step / lr):.4f}, while |g| ranges over {np.abs(g).min():.1e} .. "
    f"{np.abs(g).max():.1e}"
)

# %% [markdown]
# SGD's first step, `lr * g`, is instead proportional to the gradient: it inherits every
# vanishing or exploding factor of lesson 3, where Adam's hides them (except below `eps`,
# lesson 7). And scaling all gradients by a constant `c` scales SGD's step by `c` but leaves
# Adam's unchanged (exactly, for a power of two and `eps` negligible).


# %%
def one_step(opt_class, scale, **kw):
    net = small_net()
    _, d = tb.softmax_cross_entropy(net.forward(xs[0]), ys[0])
    net.backward(d)
    net.flat_grads *= scale
    start = net.flat_params.copy()
    opt_class(net.parameters(), **kw).step()
    return net.flat_params - start


sgd_1, sgd_8 = one_step(tb.SGD, 1.0, lr=0.1), one_step(tb.SGD, 8.0, lr=0.1)
adam_1, adam_8 = (one_step(tb.Adam, s, lr=lr, eps=1e-300) for s in (1.0, 8.0))
print(
    f"gradients x 8: SGD step x {np.linalg.norm(sgd_8) / np.linalg.norm(sgd_1):.6f}, "
    f"Adam step x {np.linalg.norm(adam_8) / np.linalg.norm(adam_1):.6f}"
)
# The steps are read as differences of weights, which costs up to ~1 ulp of |theta| (<= 2 eps
# max|theta|) per entry; a step far smaller than that cannot be read more precisely.
ulp = 2 * EPS * np.abs(small_net().flat_params).max()
assert np.allclose(sgd_8, 8 * sgd_1, rtol=0, atol=8 * ulp)
assert np.array_equal(adam_8, adam_1)

# %% [markdown]
# ## Training on real digits: SGD against Adam
#
# Now the micrograd-style loop, written out: data, model, loss, backward, step. A 4-layer ReLU
# network (784-64-64-64-10) on digits carved from MNIST's 10k test file (see lesson 3), batch 32,
# a few epochs, with SGD (lr = 0.1, a usual choice for this size) and Adam (lr = 1e-3, its usual
# default). We record the training loss of every batch and the test accuracy at the end.
#
# What to expect: both reduce the loss well below its starting value `ln 10 = 2.30` and reach
# test accuracies far above chance (10%). Which one wins depends on the learning rates - try
# others in exercise 4 below.

# %%
data = load_dataset(
    "mnist",
    mnist_dir(),
    split="carve",
    seed=SEED,
    n_train=1800 if FAST else 8000,
    n_test=600 if FAST else 2000,
    fallback="sample",
)
print(data.info["split"], "|", data.info["subsets"])
EPOCHS = 2 if FAST else 5


def train(make_optimizer):
    model = tb.mlp(hidden=(64, 64, 64), seed=SEED)  # float32: Keras's default dtype, assumed
    opt = make_optimizer(model.parameters())
    losses = []
    for epoch in range(EPOCHS):
        for xb, yb in batches(data.x_train, data.y_train, 32, seed=SEED + epoch):
            loss, dlogits = tb.softmax_cross_entropy(model.forward(xb), yb)
            model.backward(dlogits)
            opt.step()
            losses.append(loss)
    accuracy = float(np.mean(model.forward(data.x_test, training=False).argmax(1) == data.y_test))
    return np.array(losses), accuracy


runs = {
    "SGD, lr=0.1": train(lambda p: tb.SGD(p, lr=0.1)),
    "Adam, lr=1e-3": train(lambda p: tb.Adam(p, lr=1e-3)),
}
fig, ax = plt.subplots(figsize=(6, 3.8))
for name, (losses, accuracy) in runs.items():
    smooth = np.convolve(losses, np.ones(25) / 25, mode="valid")
    ax.plot(smooth, label=f"{name}: test accuracy {accuracy:.3f}")
    print(
        f"{name:14s} first loss {losses[0]:.3f}, mean of last 25 {losses[-25:].mean():.3f}, "
        f"test accuracy {accuracy:.3f}"
    )
    assert losses[-25:].mean() < 0.5 * np.log(10)
    assert accuracy > 0.5
ax.set(xlabel="step", ylabel="training loss (25-step average)", title="SGD vs Adam, 4 layers")
ax.legend()
save_figure(fig, "06_sgd_vs_adam.png")

# %% [markdown]
# ## A footnote on floating point: numbers below `tiny`
#
# A ReLU unit that never fires gets a gradient of exactly 0, and from then on Adam's `m` for its
# weights only decays, `m = 0.9 m`. Below `tiny = 1.2e-38`, float32's smallest normal number,
# come the *subnormal* numbers, down to `2^-149 = 1.4e-45`, evenly spaced by `2^-149`. x86
# processors compute with them 10-100x slower. Follow one such `m`. What to expect: it turns
# subnormal after some 800 steps and then gets stuck, because `0.9 x 4 x 2^-149 = 3.6 x 2^-149`
# rounds back to `4 x 2^-149`: it never reaches 0.

# %%
tiny = np.finfo(np.float32).tiny
m_dead, beta1 = np.array([0.01], np.float32), np.float32(0.9)
first_subnormal = None
for t in range(1, 3001):
    m_dead *= beta1
    if first_subnormal is None and m_dead[0] < tiny:
        first_subnormal = t
print(
    f"m < tiny from step {first_subnormal} on; after 3000 steps m = {m_dead[0]:.3g} "
    f"= {m_dead[0] / 2.0**-149:.0f} x 2^-149"
)
assert 700 < first_subnormal < 900 and m_dead[0] == 4 * 2.0**-149

# %% [markdown]
# In a 90-layer ReLU network trained 3000 steps on Fashion-MNIST, 73 % of `m` ended like this, and a
# training step took 2.1x as long (`benchmarks/bench_engine.py --trained`). So `tb.Adam` sets the
# entries of `m` below `tiny` to 0 every 8th step (`tb.optim.FLUSH_EVERY`). That cannot matter for
# the weights: a flushed entry is below `tiny`, so it changes a step by less than `lr tiny / ((1 -
# beta1)^2 eps)`, the optimiser's `flush_bound` - about 1e-32 here, far below the rounding of any
# weight. Check it: the same dying gradients (random for 1-40 steps, then 0) with the flush and with
# it switched off (`FLUSH_EVERY` set to a step never reached). What to expect: the same weights, bit
# for bit.


# %%
def dying_gradient_run(n_params=200, steps=1500):
    dying = np.random.default_rng(SEED)  # the same gradients in every call
    g = dying.normal(size=(steps, n_params)).astype(np.float32)
    g[np.arange(steps)[:, None] >= dying.integers(1, 40, n_params)] = 0
    theta, grad = np.full(n_params, 0.05, np.float32), np.zeros(n_params, np.float32)
    opt = tb.Adam([(theta, grad)], lr=1e-3)
    for g_t in g:
        grad[...] = g_t
        opt.step()
    m = opt.m[0]
    return theta, int(np.count_nonzero((m != 0) & (np.abs(m) < tiny))), opt.flush_bound


theta_flushed, subnormal_flushed, bound = dying_gradient_run()
every = tb.optim.FLUSH_EVERY
tb.optim.FLUSH_EVERY = 10**9  # the flush switched off
try:
    theta_exact, subnormal_exact, _ = dying_gradient_run()
finally:
    tb.optim.FLUSH_EVERY = every
print(
    f"subnormal entries of m at the end: {subnormal_exact} without the flush, "
    f"{subnormal_flushed} with it; flush_bound = {bound:.2g}; "
    f"weights identical: {np.array_equal(theta_flushed, theta_exact)}"
)
assert subnormal_exact > 100 and subnormal_flushed < subnormal_exact
assert np.array_equal(theta_flushed, theta_exact)

# %% [markdown]
# ## What you learned
#
# * `m_hat` and `v_hat` are weighted means of the past gradients and squared gradients; the
#   bias correction divides by the sum of the weights. `tb.Adam` agrees with them to rounding.
# * Its first step is `lr * g / (|g| + eps)`: about `lr` for every weight, regardless of the
#   gradient's size - Adam normalises per parameter, BGN per layer (lesson 7).
# * SGD's step scales with the gradient, Adam's does not.
# * A dead unit's `m` decays into the subnormal numbers and stays there; `tb.Adam` flushes them
#   to 0, for speed only: the weights come out bit for bit the same.
#
# ## Exercises
#
# 1. **Momentum by hand.** Write SGD with momentum (`v = mu v + g; theta -= lr v`) by hand and
#    check it against `tb.SGD(params, lr, momentum=0.9)` over 20 steps.
# 2. **Why bias correction?** Without it (`m_hat = m`, `v_hat = v`), how large is the very first
#    step, in units of `lr`? Predict, then verify with the first step's `m` and `v`.
# 3. **Keras's epsilon.** Keras adds its `eps` to `sqrt(v)` *before* the bias correction ("eps
#    hat"). Show that this equals Algorithm 1 with a step-dependent `eps_t = eps_hat /
#    sqrt(1 - beta2^t)` - so the two differ in early steps and agree later.
# 4. **Which optimiser wins?** Train the 4-layer network above with SGD at `lr` = 0.01 and 0.3,
#    and with Adam at 1e-4 and 1e-2, one epoch each. Rank all six runs by test accuracy: does
#    the ranking of SGD against Adam survive a change of learning rate?
#
# Implement it yourself: `lessons/exercises/ex06_adam.py` asks for Adam's step (Algorithm 1);
# `tinybgn lessons check` tells you whether it is right.
#
# Worked solutions: `lessons/solutions/sol06_adam_vs_sgd.py`.
