"""Worked solutions to the exercises of lesson 3 (vanishing and exploding gradients)."""

import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, mnist_dir
from tinybgn.data import load_dataset

DEPTH = 30 if FAST else 90
data = load_dataset("mnist", mnist_dir(), split="carve", seed=0, fallback="sample")


def deltas(model, x, y):
    """||delta^(K)|| at every Dense layer, input layer first (read with the trace callback)."""
    _, dlogits = tb.softmax_cross_entropy(model.forward(x), y)
    norms = []
    model.backward(
        dlogits, trace=lambda s: norms.append(s.norm_in) if isinstance(s.layer, tb.Dense) else None
    )
    return np.array(norms[::-1])


def factor(norms):
    hidden = norms[:-1]
    return (hidden[0] / hidden[-1]) ** (1 / (len(hidden) - 1))


x, y = data.x_train[:128].astype(np.float64), data.y_train[:128]

# %% Exercise 1 - He initialisation for ReLU.
# He draws W with variance 2 / fan_in = 2/64, twice Glorot's 1/64, so W^T multiplies the squared
# norm by about 2, and ReLU halves it again: we predict a per-layer factor close to 1.
he = tb.mlp(hidden=(64,) * DEPTH, activation="relu", init="he_normal", seed=0, dtype=np.float64)
f_he = factor(deltas(he, x, y))
print(f"exercise 1: ReLU + He init, per-layer factor {f_he:.3f} (Glorot gave ~0.70)")
assert 0.9 < f_he < 1.1

# %% Exercise 2 - exploding gradients in a tanh net with W scaled by 3.
# With W three times larger, ||W^T delta|| grows by ~3 per layer; tanh now saturates part of the
# units (f' < 1 there) but not enough to compensate, so the delta *grows* towards the input.
for bgn in (False, True):
    net = tb.mlp(hidden=(64,) * DEPTH, activation="tanh", bgn=bgn, seed=0, dtype=np.float64)
    for layer in net.layers[:-1]:
        if isinstance(layer, tb.Dense):
            layer.params["W"] *= 3
    norms = deltas(net, x, y)
    print(
        f"exercise 2: tanh, W x 3, {'BGN' if bgn else 'plain'}: ||delta|| layer 1 "
        f"{norms[0]:.2e}, layer {DEPTH} {norms[-2]:.2e}, per-layer factor {factor(norms):.2f}"
    )
    if bgn:
        assert np.allclose(norms[:-1], 8.0, rtol=128 * 64 * np.finfo(float).eps, atol=0)
    else:
        assert factor(norms) > 1.2  # explodes towards the input

# %% Exercise 3 - batch size changes the norms, not the per-layer factor.
# ||delta|| sums over the batch (and the loss is a mean, so each sample's share is 1/N): the
# norms scale with the batch, but the factor each layer applies is a property of W and f'.
sig = tb.mlp(hidden=(64,) * DEPTH, activation="sigmoid", seed=0, dtype=np.float64)
f_small = factor(deltas(sig, data.x_train[:8].astype(np.float64), data.y_train[:8]))
f_large = factor(deltas(sig, data.x_train[:256].astype(np.float64), data.y_train[:256]))
print(f"exercise 3: sigmoid per-layer factor, batch 8: {f_small:.3f}, batch 256: {f_large:.3f}")
assert abs(f_small - f_large) < 0.02
