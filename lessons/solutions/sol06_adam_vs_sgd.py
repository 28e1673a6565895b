"""Worked solutions to the exercises of lesson 6 (Adam, Algorithm 1, against SGD)."""

import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, mnist_dir
from tinybgn.data import batches, load_dataset

EPS = np.finfo(np.float64).eps
rng = np.random.default_rng(0)
xs, ys = rng.standard_normal((20, 16, 20)), rng.integers(0, 10, (20, 16))


def small_net():
    return tb.mlp(
        in_features=20,
        hidden=(32, 32),
        out_features=10,
        activation="tanh",
        seed=0,
        dtype=np.float64,
    )


def gradient(net, t):
    _, d = tb.softmax_cross_entropy(net.forward(xs[t]), ys[t])
    net.backward(d)


# %% Exercise 1 - SGD with momentum by hand.
lr, mu = 0.05, 0.9
net_hand, net_engine = small_net(), small_net()
velocity = np.zeros_like(net_hand.flat_params)
engine = tb.SGD(net_engine.parameters(), lr=lr, momentum=mu)
for t in range(20):
    gradient(net_hand, t)
    velocity = mu * velocity + net_hand.flat_grads
    net_hand.flat_params[...] -= lr * velocity
    gradient(net_engine, t)
    engine.step()
diff = np.abs(net_hand.flat_params - net_engine.flat_params).max()
print(f"exercise 1: momentum SGD, hand vs engine after 20 steps: {diff:.1e}")
assert diff <= 20 * 4 * EPS * np.abs(net_engine.flat_params).max()

# %% Exercise 2 - without bias correction the first step is (1 - beta1) / sqrt(1 - beta2) lr.
# m = (1 - beta1) g and sqrt(v) = sqrt(1 - beta2) |g| after one step, so the step is
# lr (1 - beta1) / sqrt(1 - beta2) = lr * 0.1 / 0.0316 = 3.16 lr for every weight (|g| >> eps):
# more than three times the intended size, exactly when the moments know least.
beta1, beta2, lr = 0.9, 0.999, 1e-3
net = small_net()
gradient(net, 0)
g = net.flat_grads.copy()
m, v = (1 - beta1) * g, (1 - beta2) * g * g
tiny_eps = 1e-300  # eps out of the way (it would bend the ratio where |g| is near 1e-7)
uncorrected = lr * m / (np.sqrt(v) + tiny_eps)
corrected = lr * (m / (1 - beta1)) / (np.sqrt(v / (1 - beta2)) + tiny_eps)
live = g != 0
ratio = np.abs(uncorrected[live]) / np.abs(corrected[live])
print(
    f"exercise 2: uncorrected / corrected first step = {ratio.min():.4f} .. {ratio.max():.4f}; "
    f"predicted {(1 - beta1) / np.sqrt(1 - beta2):.4f}"
)
assert np.allclose(ratio, (1 - beta1) / np.sqrt(1 - beta2), rtol=1e-14, atol=0)

# %% Exercise 3 - Keras's eps_hat equals Algorithm 1 with eps_t = eps_hat / sqrt(1 - beta2^t).
# Keras: theta -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps_hat). Divide numerator and
# denominator by sqrt(1 - b2^t): lr m_hat / (sqrt(v_hat) + eps_hat / sqrt(1 - b2^t)).
eps_hat = 1e-7
m = np.zeros_like(g)
v = np.zeros_like(g)
for t in range(1, 6):
    gt = g * (1 + 0.1 * t)  # some changing gradient
    m = beta1 * m + (1 - beta1) * gt
    v = beta2 * v + (1 - beta2) * gt * gt
    keras = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (np.sqrt(v) + eps_hat)
    eps_t = eps_hat / np.sqrt(1 - beta2**t)
    algorithm1 = lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps_t)
    assert np.allclose(keras, algorithm1, rtol=1e-13, atol=0)
    print(f"exercise 3: t = {t}: eps_t = {eps_t:.3e} (eps_hat = {eps_hat:g}); steps agree")

# %% Exercise 4 - which optimiser wins depends on the learning rate.
# One epoch each of the lesson's 4-layer ReLU net on carved real digits (small in fast mode).

data = load_dataset(
    "mnist",
    mnist_dir(),
    split="carve",
    seed=0,
    n_train=1800 if FAST else 8000,
    n_test=600 if FAST else 2000,
    fallback="sample",
)


def one_epoch(make_optimizer):
    model = tb.mlp(hidden=(64, 64, 64), seed=0)
    opt = make_optimizer(model.parameters())
    for xb, yb in batches(data.x_train, data.y_train, 32, seed=0):
        _, dlogits = tb.softmax_cross_entropy(model.forward(xb), yb)
        model.backward(dlogits)
        opt.step()
    return float(np.mean(model.forward(data.x_test, training=False).argmax(1) == data.y_test))


runs = {
    **{f"SGD lr={lr:g}": one_epoch(lambda p, lr=lr: tb.SGD(p, lr=lr)) for lr in (0.01, 0.1, 0.3)},
    **{
        f"Adam lr={lr:g}": one_epoch(lambda p, lr=lr: tb.Adam(p, lr=lr))
        for lr in (1e-4, 1e-3, 1e-2)
    },
}
ranking = sorted(runs, key=runs.get, reverse=True)
print("exercise 4: " + ", ".join(f"{name} {runs[name]:.3f}" for name in ranking))
# SGD at 0.01 is the slowest of the SGD runs, so "SGD against Adam" has no answer without
# the learning rates: the ranking of the two families changes with them.
assert runs["SGD lr=0.01"] < runs["SGD lr=0.1"]
best_sgd = max(v for k, v in runs.items() if k.startswith("SGD"))
worst_adam = min(v for k, v in runs.items() if k.startswith("Adam"))
best_adam = max(v for k, v in runs.items() if k.startswith("Adam"))
worst_sgd = min(v for k, v in runs.items() if k.startswith("SGD"))
print(
    f"  best SGD {best_sgd:.3f} vs worst Adam {worst_adam:.3f}; best Adam {best_adam:.3f} vs "
    f"worst SGD {worst_sgd:.3f}"
)
assert best_sgd > worst_adam and best_adam > worst_sgd  # neither family wins at every rate
