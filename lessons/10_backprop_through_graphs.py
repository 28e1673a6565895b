# %% [markdown]
# # Lesson 10 - Backpropagation through a graph: fan-out, residual blocks, and where BGN goes
#
# So far every network was a chain: each layer's output went to exactly one layer. Real
# networks branch. A value can feed two layers (*fan-out*), two values can be added (*a skip
# connection*), one layer can be used twice (*shared weights*). The backward pass is then the
# **multivariate chain rule**: if u feeds v_1, ..., v_m, the loss depends on u through each of
# them, so
#
#     dL/du = sum_i J_{v_i}(u)^T dL/dv_i          (J_{v_i}(u) = dv_i/du)
#
# gradients **add** at fan-out. Visiting the nodes in reverse topological order guarantees that
# all m terms have arrived before u's own layer runs. tinybgn builds such graphs in the Keras
# style: `tb.Input`, call a layer on a node, `tb.Add`, `tb.Model`.
#
# Then residual blocks, `h + F(h)` (He et al., 2016: the "other cure" for vanishing gradients
# that the paper's introduction names), and what happens to eq. (9) when a skip bypasses BGN:
# it becomes a sum over backward paths, and *where* BGN sits in a block decides whether it is
# still a per-layer learning rate. Last, we train residual networks on real digits.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, mnist_dir, save_figure
from tinybgn.data import load_dataset
from tinybgn.gradcheck import numerical_gradient, rel_error
from tinybgn.train import train

SEED = 0
rng = np.random.default_rng(SEED)
EPS = np.finfo(np.float64).eps

# %% [markdown]
# ## 1. Fan-out: one value, two consumers
#
# `h = tanh(x W^T + b)` feeds two branches, `a = tanh(D_a(h))` and `s = sigmoid(D_s(h))`, whose
# sum goes to the output layer. The trace callback hands us every node's step: the gradient
# each branch sends back to `h` is its `grad_out`, and what `h`'s own layer receives is their
# sum. Expect equality to the last bit: the engine computes exactly this sum.

# %%
x_in = tb.Input(5, name="x")
h = tb.Tanh()(tb.Dense(5, 4, rng=rng, dtype=np.float64)(x_in, name="d_h"), name="h")
a = tb.Tanh()(tb.Dense(4, 4, rng=rng, dtype=np.float64)(h, name="d_a"), name="a")
s = tb.Sigmoid()(tb.Dense(4, 4, rng=rng, dtype=np.float64)(h, name="d_s"), name="s")
out = tb.Dense(4, 3, rng=rng, dtype=np.float64)(tb.Add()(a, s, name="sum"), name="out")
model = tb.Model(x_in, out)
print(model)

xb = rng.normal(size=(6, 5))
dy = rng.normal(size=(6, 3))  # a random upstream gradient (never all ones)
model.forward(xb)
steps = {}
model.backward(dy, trace=lambda step: steps.setdefault(step.node, step))
from_a, from_s = steps["d_a"].grad_out, steps["d_s"].grad_out
received_by_h = steps["h"].grad_in
assert np.array_equal(received_by_h, from_a + from_s)
print(
    "||from a|| =",
    f"{np.linalg.norm(from_a):.4f}",
    " ||from s|| =",
    f"{np.linalg.norm(from_s):.4f}",
)
print("h received their sum:", f"{np.linalg.norm(received_by_h):.4f}")

# %% [markdown]
# Is the sum *right*? Central finite differences of `L = sum(y * dy)` with respect to the input
# (a vector-Jacobian product, as in lesson 1) say so; expect a relative error near 1e-10. And if
# the engine *overwrote* instead of adding, keeping only the last branch to arrive, the error
# would be of order 1: we compute that wrong gradient by hand (one branch only) to see it.


# %%
def loss_of_x():
    return float(np.sum(model.forward(xb) * dy))


numeric = numerical_gradient(loss_of_x, xb)
model.forward(xb)
analytic = model.backward(dy)
err_right = rel_error(analytic, numeric)
# the wrong gradient: h keeps only what d_s sent back, then goes through tanh' and d_h
one_branch = steps["d_h"].layer.backward(steps["h"].layer.backward(from_s))
err_wrong = rel_error(one_branch, numeric)
print(f"sum at fan-out: relative error {err_right:.1e};  one branch only: {err_wrong:.2f}")
assert err_right < 1e-8
assert err_wrong > 0.1

# %% [markdown]
# The whole model can be checked the same way, parameters included (`tb.gradcheck` accepts a
# model). Expect every error below 1e-6.

# %%
result = tb.gradcheck(model, xb)
print(result)
assert result.worst < 1e-6

# %% [markdown]
# ## 2. Shared weights: one layer, two uses
#
# Call the same Dense `D` twice: `y = D(tanh(D(x)))`. There is one `W`, and L depends on it
# through both uses, so by the same rule `dL/dW = (dL/dW)_use1 + (dL/dW)_use2`. Layers cache one
# forward and *set* their gradients; the engine keeps one cache per use and adds the uses'
# gradients (see `tinybgn/graph.py`). We compare with two untied copies `D1`, `D2` of `D`:
# the shared gradient must be their sum (to rounding: the order of the additions differs).

# %%
D = tb.Dense(4, 4, rng=rng, dtype=np.float64)
x_t = tb.Input(4)
tied = tb.Model(x_t, D(tb.Tanh()(D(x_t))))
D1, D2 = tb.Dense(4, 4, dtype=np.float64), tb.Dense(4, 4, dtype=np.float64)
for copy_ in (D1, D2):
    copy_.params["W"][...], copy_.params["b"][...] = D.W, D.b
x_u = tb.Input(4)
untied = tb.Model(x_u, D2(tb.Tanh()(D1(x_u))))
x4, g4 = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
for net in (tied, untied):
    net.forward(x4)
    net.backward(g4)
gap = np.abs(D.grads["W"] - (D1.grads["W"] + D2.grads["W"])).max()
print(f"shared dL/dW vs dL/dW1 + dL/dW2: max difference {gap:.1e}")
assert gap <= 8 * EPS * np.abs(D.grads["W"]).max()
assert tb.gradcheck(tied, x4).worst < 1e-6

# %% [markdown]
# ## 3. Residual blocks: a path the gradient cannot lose
#
# A residual block computes `h_out = h + F(h)`, so its Jacobian is `I + J_F`: backward, the
# identity carries `dL/dh_out` unchanged past the block, whatever `F` does. `tb.residual_mlp`
# builds the paper's MLP with such skips: a stem `f(Dense(x))`, then blocks
# `h = h + f(Dense(h))`, then the output Dense. Its weights are drawn exactly as `tb.mlp` draws
# them, so with one seed the plain and the residual net have the *same* weights, and we can
# compare them on one batch of real digits.
#
# Expectation (lesson 3): in a 30-layer sigmoid chain ||delta|| at the first layer vanishes
# (each layer multiplies by f' <= 1/4); with skips it stays within a factor of 10 of the
# output layer's. (Skips do not normalise, though: with ReLU the same residual net's gradient
# *grows* towards the input, by more than 100x over 30 layers here.)

# %%
data = load_dataset(
    "mnist",
    mnist_dir(),
    split="carve",
    seed=SEED,
    n_train=2000 if FAST else 8000,
    n_test=1000 if FAST else 2000,
)
print(data.info["split"], "|", data.info.get("subsets") or "all of it")
xd, yd = data.x_train[:64].astype(np.float64), data.y_train[:64]
DEPTH, WIDTH = 30, 32


def dense_deltas(net):
    """||delta^(K)|| for K = 1..N (input side first), from one backward pass on (xd, yd)."""
    _, dlogits = tb.softmax_cross_entropy(net.forward(xd), yd)
    found = []
    net.backward(
        dlogits, trace=lambda st: found.append(st) if isinstance(st.layer, tb.Dense) else None
    )
    return np.array([st.norm_in for st in found[::-1]])


profiles = {}
for activation in ("sigmoid", "relu"):
    for name, build in (("chain", tb.mlp), ("residual", tb.residual_mlp)):
        net = build(784, [WIDTH] * DEPTH, 10, activation, seed=SEED, dtype=np.float64)
        profiles[activation, name] = dense_deltas(net)
        p = profiles[activation, name]
        print(f"{activation:7s} {name:8s}: ||delta^(1)|| = {p[0]:.2e}, ||delta^(N)|| = {p[-1]:.2e}")
chain, res = profiles["sigmoid", "chain"], profiles["sigmoid", "residual"]
assert chain[0] < 1e-12 * chain[-1]  # vanished
assert res[-1] / 10 < res[0] < 10 * res[-1]  # kept
assert profiles["relu", "residual"][0] > 100 * profiles["relu", "residual"][-1]  # grew

fig, ax = plt.subplots(figsize=(7, 3.5))
for (activation, name), p in profiles.items():
    ax.semilogy(range(1, len(p) + 1), p, ("-" if name == "residual" else "--"),
                label=f"{activation}, {name}")  # fmt: skip
ax.set(xlabel="layer K", ylabel="||delta^(K)||", title=f"{DEPTH}-layer nets at initialisation")
ax.legend(fontsize=8)
save_figure(fig, "10_residual_deltas.png")

# %% [markdown]
# ## 4. Where BGN belongs in a residual block: eq. (9) becomes a sum over paths
#
# In a chain, BGN's `n_j` are numbers once computed, so every delta is the plain delta times
# one scalar, `delta_BGN^(K) = delta^(K) prod_{j=K}^N 1/n_j` (eq. 9): BGN acts as a per-layer
# learning rate (eqs. 10-11). In a graph the backward pass is still linear once the `n_j` are
# fixed, but `dL/du` is now a sum over the backward **paths** P from the output to u, and each
# path is scaled by the BGN layers on *it*:
#
#     delta_BGN^(K) = sum_P ( prod_{j in P} 1/n_j ) delta_P^(K)      (delta^(K) = sum_P delta_P^(K))
#
# * BGN "just before every activation", the paper's rule, puts BGN *inside* each branch F, and
#   the skip bypasses it: paths carry different products, and `delta_BGN^(K)` is no longer a
#   multiple of `delta^(K)` - it points elsewhere. (`tests/test_graph.py` checks the sum over
#   paths term by term.)
# * BGN on the **trunk**, right after each `Add` (`bgn_placement="trunk"`): every path from the
#   output to a layer below block b passes through that BGN, so all paths share the same
#   factors and eq. (9) holds again.
#
# We measure the cosine between the BGN and the plain delta at the first layer. Expect it
# clearly below 1 for branch placement, and 1 to rounding (1e-12) for the trunk.


# %%
def cosine(u, v):
    return float(np.sum(u * v) / (np.linalg.norm(u) * np.linalg.norm(v)))


def first_delta(net):
    _, dlogits = tb.softmax_cross_entropy(net.forward(xd), yd)
    found = []
    net.backward(dlogits, trace=found.append)
    return next(st for st in found if isinstance(st.layer, tb.Dense) and st.K == 1)


kw = dict(activation="sigmoid", seed=SEED, dtype=np.float64)
plain_first = first_delta(tb.residual_mlp(784, [WIDTH] * 10, 10, **kw))
cosines = {}
for placement in ("branch", "trunk"):
    net = tb.residual_mlp(784, [WIDTH] * 10, 10, bgn=True, bgn_placement=placement, **kw)
    step = first_delta(net)
    cosines[placement] = cosine(step.grad_in, plain_first.grad_in)
    lo, hi = step.scale
    print(f"BGN on the {placement}: cos(delta_BGN, delta) = {cosines[placement]:.6f}, "
          f"path products from {lo:.3g} to {hi:.3g}")  # fmt: skip
    if placement == "trunk":
        assert hi == lo or abs(hi - lo) <= 1e-12 * hi  # one product: eq. (9)
        assert np.allclose(step.grad_in, plain_first.grad_in * lo, rtol=1e-9, atol=0)
assert cosines["branch"] < 0.99
assert abs(cosines["trunk"] - 1) < 1e-12

# %% [markdown]
# The trace shows the same thing node by node. Each line has the paper's K, the gradient norms,
# `prod 1/n_j` (a range `lo..hi` where paths disagree), ||grad_W L|| and ||grad_b L|| at Dense
# (eqs. 10-11), kappa, d and n_K at BGN, and `sum of 2` where a value fans out. A tiny net
# with branch BGN, a stem and two blocks (K = 1, 2, 3): expect one product on the last block
# and the output layer (K >= 3), and a range on every node below it (K <= 2), where the paths
# through the last block's skip and through its BGN meet.

# %%
tiny = tb.residual_mlp(6, [4] * 3, 3, "sigmoid", bgn=True, seed=SEED, dtype=np.float64)
_, dl = tb.softmax_cross_entropy(tiny.forward(rng.normal(size=(5, 6))), rng.integers(0, 3, 5))
tiny.backward(dl, trace=True)
ranged = {st.index for st in tiny.last_trace if st.scale[0] != st.scale[1]}
assert ranged == {st.index for st in tiny.last_trace if st.K <= 2}
fig = tb.plot_backward(tiny)
save_figure(fig, "10_backward_graph.png")

# %% [markdown]
# ## 5. Training residual networks on real digits
#
# Twenty-layer sigmoid networks (width 32), Adam (lr 1e-3), on the carved MNIST split: the
# chain, the residual net, and the residual net with BGN in the branches or on the trunk. A
# **short** run (3 epochs on 2,000 digits in fast mode; 5 epochs on 8,000 and 3 seeds at
# teaching size): it shows which networks start to learn, not where they end up. What we
# check, with wide margins: the chain predicts one class (section 3 saw its gradient vanish);
# the residual net without BGN and with BGN on the trunk learn (accuracy > 0.5, far above the
# 11.35 % of always answering "1"); BGN in the branches, which turns delta away from the
# gradient (section 4), learns clearly less in this run (at least 0.1 below the trunk
# placement). Whether it catches up later is a question for a real experiment.

# %%
EPOCHS, SEEDS = (3, (0,)) if FAST else (5, (0, 1, 2))
configs = {
    "chain": (tb.mlp, {}),
    "residual": (tb.residual_mlp, {}),
    "residual, BGN in branches": (tb.residual_mlp, {"bgn": True}),
    "residual, BGN on trunk": (tb.residual_mlp, {"bgn": True, "bgn_placement": "trunk"}),
}
results = {}
for name, (build, extra) in configs.items():
    runs = []
    for seed in SEEDS:
        net = build(784, [WIDTH] * 20, 10, "sigmoid", seed=seed, **extra)
        history = train(net, data.x_train, data.y_train, data.x_test, data.y_test,
                        epochs=EPOCHS, batch_size=32, lr=1e-3, seed=seed)  # fmt: skip
        runs.append(history.final)
    results[name] = runs
    accs = [r.test_accuracy for r in runs]
    tops = [r.top_class_fraction for r in runs]
    print(f"{name:27s} test accuracy {np.mean(accs):.3f} (seeds {accs}), "
          f"largest predicted class {np.mean(tops):.2f}")  # fmt: skip
mean = {k: np.mean([r.test_accuracy for r in v]) for k, v in results.items()}
assert all(r.top_class_fraction > 0.9 for r in results["chain"])
assert mean["residual"] > 0.5 and mean["residual, BGN on trunk"] > 0.5
assert mean["residual, BGN in branches"] < mean["residual, BGN on trunk"] - 0.1

fig, ax = plt.subplots(figsize=(7, 3))
ax.barh(list(mean), list(mean.values()), color="gray")
ax.axvline(0.1135, color="red", lw=0.8, ls="--", label="one class (11.35 %)")
ax.set(xlabel="test accuracy", title=f"20-layer sigmoid nets, {EPOCHS} epochs")
ax.legend(fontsize=8)
save_figure(fig, "10_training.png")

# %% [markdown]
# ## Summary
#
# * Gradients add where a value fans out (the multivariate chain rule); the engine visits
#   nodes in reverse topological order so the sum is complete; finite differences agree.
# * A shared layer's gradient is the sum over its uses.
# * A skip gives the gradient an identity path: a 30-layer sigmoid net no longer vanishes.
# * eq. (9) in a graph is a sum over paths. BGN before every activation sits in the branches,
#   the skip bypasses it, and delta_BGN turns away from delta; BGN after each Add is crossed by
#   every path and eq. (9) holds again.
#
# ## Exercises
#
# 1. Build `y = Add()(x, Add()(f(x), g(x)))` with two different branches f, g, and check by
#    finite differences that dL/dx = dL/dy (1 + J_f^T + J_g^T) (a three-way fan-out of x).
# 2. Use one `BatchNorm` layer twice in a graph and check the gradients of gamma and beta by
#    finite differences: does sharing a normalisation layer work like sharing a Dense?
# 3. For `tb.residual_mlp(..., block_size=2, bgn=True, bgn_placement="trunk")`, verify eq. (9)
#    at every Dense layer against the same network without BGN.
#
# Worked solutions: `lessons/solutions/sol10_backprop_through_graphs.py`.
