"""Worked solutions to the exercises of lesson 8 (training 90-layer nets on real digits).

Like the lessons, this runs small with TINYBGN_FAST=1 and at teaching size otherwise; the
accuracy claims that need many epochs are only checked at teaching size.
"""

import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, mnist_dir
from tinybgn.data import batches, load_dataset

data = load_dataset(
    "mnist",
    mnist_dir(),
    split="carve",
    seed=0,
    n_train=1800 if FAST else None,
    n_test=600 if FAST else None,
    fallback="sample",
)
print(data.info["split"], "|", data.info["subsets"] or "all of it")


def train(depth, bgn, lr, epochs, seed=0):
    """Accuracy, number of distinct classes predicted, mean |change| of the first layer's W."""
    model = tb.mlp(hidden=(64,) * depth, bgn=bgn, seed=seed)
    W0 = model.layers[0].W.copy()
    opt = tb.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        for xb, yb in batches(data.x_train, data.y_train, 32, seed=1000 * seed + epoch):
            _, dlogits = tb.softmax_cross_entropy(model.forward(xb), yb)
            model.backward(dlogits)
            opt.step()
    predictions = model.forward(data.x_test, training=False).argmax(axis=1)
    return (
        float(np.mean(predictions == data.y_test)),
        len(np.unique(predictions)),
        float(np.abs(model.layers[0].W - W0).mean()),
    )


# %% Exercise 1 - the 30-layer row (paper: 0.948 without BGN, 0.949 with).
# At 30 layers the plain net's first-layer gradients are ~1e-5 (lesson 3), above Adam's eps, so
# Adam moves its first layer about as much as the BGN net's: BGN has nothing to rescue.
epochs = 2 if FAST else 5
plain = train(30, False, 3e-4, epochs)
normed = train(30, True, 3e-4, epochs)
print(
    f"exercise 1: 30 layers, {epochs} epochs: plain acc {plain[0]:.3f} (first-layer change "
    f"{plain[2]:.1e}), BGN acc {normed[0]:.3f} (first-layer change {normed[2]:.1e})"
)
assert normed[2] / plain[2] < 10  # at 90 layers this ratio was above 1e6
if not FAST:
    assert plain[0] > 0.5 and normed[0] > 0.5  # both learn

# %% Exercise 2 - why one class: the forward signal vanishes too.
# Glorot weights keep the norm through W on average, and ReLU zeroes about half the units, so the
# activations shrink by ~sqrt(1/2) per layer: after 90 layers the input's trace in the output is
# ~1e-14 of the bias, and every digit gets the same logits - and the same class. BGN changes
# nothing forward (eq. 4), so the untrained BGN net predicts exactly the same.
x = data.x_test
untrained_logits = {}
for bgn in (False, True):
    model = tb.mlp(hidden=(64,) * 90, bgn=bgn, seed=0, dtype=np.float64)
    h, norms = x.astype(np.float64), []
    for layer in model.layers:
        h = layer.forward(h, training=False)
        if isinstance(layer, tb.ReLU):
            norms.append(np.linalg.norm(h))
    logits = untrained_logits[bgn] = h
    spread = np.abs(logits - logits.mean(axis=0)).max()
    print(
        f"exercise 2: {'BGN' if bgn else 'plain'}: ||h|| after ReLU 1: {norms[0]:.2e}, after "
        f"ReLU 90: {norms[-1]:.2e}; logits vary across digits by at most {spread:.1e}"
    )
    assert norms[-1] / norms[0] < 1e-10
    assert len(np.unique(logits.argmax(axis=1))) == 1
assert np.array_equal(untrained_logits[True], untrained_logits[False])

# %% Exercise 3 - no learning rate rescues the plain 90-layer net.
# Adam's step for a weight is ~lr |g| / eps when |g| << eps = 1e-7; the first layers' |g| is
# ~1e-15, so even lr = 1e-2 moves them by ~1e-10 per step: a larger lr moves the top layers
# faster, but the bottom stays frozen and the net keeps predicting one class.
epochs = 2 if FAST else 10
for lr in (1e-4, 1e-3, 1e-2):
    acc, n_classes, change = train(90, False, lr, epochs)
    print(
        f"exercise 3: plain, lr {lr:g}: accuracy {acc:.3f}, classes predicted {n_classes}, "
        f"first-layer change {change:.1e}"
    )
    assert n_classes == 1
    assert change < 1e-6
