# %% [markdown]
# # Lesson 3 - Vanishing and exploding gradients, measured layer by layer
#
# Lesson 2 showed that backpropagation through a stack multiplies, at every layer, by `W^T`
# and by `f'(z)` (eq. 6). Ninety such factors can make the gradient reaching the first layers
# astronomically small (*vanishing*) or large (*exploding*). This is the problem the paper's BGN
# layer addresses, and its Figure 1 shows it for 90-layer networks right after initialisation.
#
# Here you reproduce the top row of Figure 1 (and its bottom row, the weight gradients):
# `||delta^(K)||` at every Dense layer K of a 90-layer, 64-unit network, for sigmoid, ReLU and
# tanh, on a batch of real handwritten digits - with and without BGN. The numbers are read with
# the trace facility's callback (`model.backward(grad, trace=callback)`).

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, mnist_dir, save_figure
from tinybgn.data import load_dataset

SEED = 0
DEPTH = 30 if FAST else 90  # hidden layers; the paper's Figure 1 uses 90
BATCH = 32 if FAST else 128
WIDTH = 64
EPS = np.finfo(np.float64).eps

# %% [markdown]
# ## Data
#
# One batch of real MNIST digits. Only MNIST's 10,000-image *test* file is available offline,
# so `load_dataset` carves a seeded, stratified train/test split out of it (and says so in
# `info["split"]`); here we just need the first training batch. Pixels are scaled to [0, 1]
# and flattened to 784 features - the paper's permutation-invariant setting.

# %%
data = load_dataset("mnist", mnist_dir(), split="carve", seed=SEED, fallback="sample")
print(data.info["split"])
x = data.x_train[:BATCH].astype(np.float64)
labels = data.y_train[:BATCH]
print("batch", x.shape, "labels", np.bincount(labels, minlength=10))

# %% [markdown]
# ## Measuring ||delta|| at every Dense layer
#
# For each network we run one forward pass, take the softmax cross-entropy gradient, and
# backpropagate with a trace callback that records, for every Dense layer, the norm of the
# delta it receives (`step.norm_in`, eq. 6/7) and of its weight gradient (eq. 1/10). We use
# float64 so that even a gradient of 1e-60 is represented faithfully.


# %%
def gradient_profile(activation, bgn):
    """||delta^(K)|| and ||grad_W L|| for K = 1 .. DEPTH + 1 (input layer first)."""
    model = tb.mlp(
        hidden=(WIDTH,) * DEPTH, activation=activation, bgn=bgn, seed=SEED, dtype=np.float64
    )
    _, dlogits = tb.softmax_cross_entropy(model.forward(x), labels)
    delta_norms, weight_norms = [], []

    def record(step):
        if isinstance(step.layer, tb.Dense):
            delta_norms.append(step.norm_in)
            weight_norms.append(np.linalg.norm(step.layer.grads["W"]))

    model.backward(dlogits, trace=record)
    return np.array(delta_norms[::-1]), np.array(weight_norms[::-1])  # input layer first


profiles = {
    (act, bgn): gradient_profile(act, bgn)
    for act in ("relu", "sigmoid", "tanh")
    for bgn in (False, True)
}
for (act, bgn), (deltas, weights) in profiles.items():
    print(
        f"{act:8s} {'BGN ' if bgn else 'plain'}  ||delta||: layer 1 {deltas[0]:.2e}, "
        f"layer {DEPTH} {deltas[-2]:.2e};  ||grad W||: layer 1 {weights[0]:.2e}, "
        f"layer {DEPTH} {weights[-2]:.2e}"
    )

# %% [markdown]
# ## Figure 1, reproduced

# %%
fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharex=True)
layers = np.arange(1, DEPTH + 2)
for col, act in enumerate(("relu", "sigmoid", "tanh")):
    for bgn, color in ((False, "tab:blue"), (True, "goldenrod")):
        deltas, weights = profiles[(act, bgn)]
        label = "BGN" if bgn else "no normalisation"
        axes[0, col].semilogy(layers, deltas, color=color, label=label)
        axes[1, col].semilogy(layers, weights, color=color, label=label)
    axes[0, col].set_title(f"{act}: ||delta^(K)||")
    axes[1, col].set_title(f"{act}: ||grad_W L||")
    axes[1, col].set_xlabel("layer K (1 = input side)")
axes[0, 0].legend()
fig.suptitle(
    f"Gradients at initialisation, {DEPTH} hidden layers of {WIDTH} units "
    f"(batch of {BATCH} real digits)"
)
fig.tight_layout()
save_figure(fig, "03_gradients_at_init.png")

# %% [markdown]
# ## Reading the figure, with numbers
#
# **Sigmoid vanishes fastest.** Glorot's initialisation draws `W` with variance
# `2 / (fan_in + fan_out) = 1/64`. (The paper states neither its framework nor its
# initialisation; tinybgn *assumes* Keras's defaults, Glorot-uniform weights and zero biases.)
# So multiplying by `W^T` roughly *preserves* the norm; what remains is `f'(z)`, and lesson 2
# showed `f'(z) <= 1/4` for the sigmoid, with `f'(0) = 1/4`. The pre-activations here are
# small, so we expect each sigmoid layer to shrink `||delta||` by a factor close to **1/4**,
# i.e. `4^-(DEPTH-1)` over the stack.
#
# **ReLU halves the energy.** ReLU's derivative is 1 for the active half of the units and 0 for
# the other half, so each layer keeps about half of the squared norm: a factor close to
# **sqrt(1/2) = 0.707** per layer.
#
# **Tanh barely decays** (`f'(0) = 1`, and Glorot keeps `z` small): the paper's "affects the
# tanh units to a lesser extent". We expect it to lose less than a factor of 10 over the
# whole stack (so a per-layer factor above 0.9).
#
# We measure the per-layer factor as the geometric mean `(||delta^(1)|| /
# ||delta^(DEPTH)||)^(1/(DEPTH-1))` over the hidden layers.


# %%
def per_layer_factor(deltas):
    hidden = deltas[:-1]  # the last entry is the output layer
    return (hidden[0] / hidden[-1]) ** (1 / (len(hidden) - 1))


factors = {act: per_layer_factor(profiles[(act, False)][0]) for act in ("relu", "sigmoid", "tanh")}
for act, f in factors.items():
    total = profiles[(act, False)][0][0] / profiles[(act, False)][0][-2]
    print(f"{act:8s} per-layer factor {f:.3f};  over {DEPTH - 1} layers: {total:.2e}")

assert 0.2 < factors["sigmoid"] <= 0.25  # about f'(0) = 1/4 per layer
assert abs(factors["relu"] - np.sqrt(0.5)) < 0.03  # about sqrt(1/2) per layer
assert factors["tanh"] > 0.9
assert profiles[("tanh", False)][0][0] / profiles[("tanh", False)][0][-2] > 0.1
assert factors["sigmoid"] < factors["relu"] < factors["tanh"]

# %% [markdown]
# **With BGN the curves are flat - exactly.** A BGN layer sits before every activation, so the
# delta a hidden Dense layer receives is BGN's output, `kappa g / ||g||` (eq. 5), with
# `kappa = sqrt(d) = sqrt(64) = 8`. What to expect: `||delta^(K)|| = 8` at every hidden layer,
# for every activation, up to the rounding of computing a norm of `BATCH * 64` numbers in float64
# (relative error below `BATCH * 64 * eps`, about 2e-12).

# %%
kappa = np.sqrt(WIDTH)
tol = BATCH * WIDTH * EPS
for act in ("relu", "sigmoid", "tanh"):
    hidden = profiles[(act, True)][0][:-1]
    worst = np.max(np.abs(hidden / kappa - 1))
    print(f"{act:8s} with BGN: ||delta|| / 8 - 1 at most {worst:.1e} over {DEPTH} layers")
    assert worst < tol

# %% [markdown]
# **Weight gradients.** Eq. (1) multiplies delta by the layer's *input*, so `||grad_W L||` also
# depends on the forward activations. For ReLU the forward signal shrinks towards the output
# (each layer zeroes half the units) while delta shrinks towards the input; the two effects
# nearly cancel, which is why the paper finds `||grad_W L||` "almost constant (although very
# small)" for ReLU. What to expect: across the hidden layers, the ReLU weight gradients stay
# within a factor of 100 of each other, while the deltas span more than a factor of 1000.

# %%
relu_deltas, relu_weights = profiles[("relu", False)]
spread_delta = relu_deltas[:-1].max() / relu_deltas[:-1].min()
spread_weight = relu_weights[:-1].max() / relu_weights[:-1].min()
print(f"ReLU, no BGN: ||delta|| spans x{spread_delta:.1e}, ||grad W|| spans x{spread_weight:.1f}")
assert spread_weight < 100 < 1000 < spread_delta

# %% [markdown]
# ## What you learned
#
# * Backpropagation multiplies one factor per layer; the product vanishes or explodes
#   geometrically with depth. The per-layer factor follows from `f'` and the initialisation.
# * BGN (lesson 4) rescales delta to norm `kappa` before every activation: all the deltas of a
#   BGN network have the same norm, whatever the depth.
# * A small delta does not always mean a small weight gradient - eq. (1) also involves the input.
#
# ## Exercises
#
# 1. **He initialisation.** `tb.mlp(..., init="he_normal")` draws `W` with variance
#    `2 / fan_in`, designed for ReLU. Predict the per-layer factor of `||delta||` for a ReLU net,
#    then measure it.
# 2. **Exploding gradients.** Scale every hidden weight matrix of a tanh net by 3
#    (`layer.params["W"] *= 3`) and measure `||delta^(K)||` again. Why does it grow with depth now?
#    Does BGN still hold every hidden delta at norm 8?
# 3. **Does the batch matter?** Repeat the sigmoid measurement with a batch of 8 and of 256
#    digits. Which numbers change, and which (the per-layer factor) barely do?
#
# Worked solutions: `lessons/solutions/sol03_vanishing_exploding.py`.
