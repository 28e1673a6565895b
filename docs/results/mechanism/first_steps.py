"""What do the first Adam steps do to each layer of a 90-layer ReLU MLP, with and without BGN?

Part of the mechanism study (README.md beside this file). No training run and no statistics:
one network per variant, initialised with the seed of the study's run 0, trained for one epoch
of the study's carved MNIST training digits (batches of 32) with the real tinybgn engine and
Adam, in float32 as in the study. For some Dense layers K (1 = input side, 90 = the last hidden
layer), at the first step and at the last step of the epoch:

* ``RMS of the input h``: root mean square of the layer's input h^(K-1) on the batch (the
  forward signal; ReLU nets at Glorot init lose about a factor 0.7 per layer);
* ``norm of g_W``: Frobenius norm of the weight gradient ``delta^T h`` (eq. 3) on the batch;
* ``g = 0``: share of the weights whose gradient is exactly 0 (dead units, zero inputs);
* ``sqrt(v_hat)/eps``: Adam's denominator against eps, median over the weights with
  v_hat > 0; below 1, Adam's step is about ``lr * m_hat / eps`` (SGD with rate lr / eps);
* ``W unchanged``: share of the layer's weights that the step left *bit for bit* as they were
  (a zero step, or one below half a float32 ulp of the weight);

and, over the steps of the epoch, the median norm of g_W and how far the largest lies above it.

    TINYBGN_DATA=../shared/data/mnist python docs/results/mechanism/first_steps.py \
        > docs/results/mechanism/first_steps.md
"""

from __future__ import annotations

import numpy as np

import tinybgn as tb
from tinybgn.data import batches, load_dataset
from tinybgn.experiments.jobs import derive_seed

DEPTH, WIDTH, LR = 90, 64, 1e-4  # LR: the study's best Adam+BGN rate (validation)
VARIANTS = [("plain, eps 1e-7", False, 1e-7), ("plain, eps 1e-24", False, 1e-24),
            ("BGN, eps 1e-7", True, 1e-7)]  # fmt: skip
LAYERS = [1, 2, 10, 30, 45, 60, 80, 89, 90]
COLUMNS = [("rms_in", "RMS of the input h", "{:.1e}"), ("norm_g", "norm of g_W", "{:.1e}"),
           ("zero_g", "g = 0", "{:.0%}"), ("v_over_eps", "sqrt(v_hat)/eps", "{:.1e}"),
           ("unchanged", "W unchanged", "{:.0%}")]  # fmt: skip


def layer_table(model, opt, x, y, eps) -> dict[int, dict[str, float]]:
    """Per Dense layer, for one Adam step on (x, y): the quantities of the module docstring."""
    dense = [layer for layer in model.layers if isinstance(layer, tb.Dense)]
    before = [d.params["W"].copy() for d in dense]
    rms_in, h = [], x
    for layer in model.layers:  # the forward pass, layer by layer, to see each Dense's input
        if isinstance(layer, tb.Dense):
            rms_in.append(float(np.sqrt(np.mean(h.astype(np.float64) ** 2))))
        h = layer.forward(h)
    _, dlogits = tb.softmax_cross_entropy(h, y)
    model.backward(dlogits)
    grads = [d.grads["W"].astype(np.float64) for d in dense]
    opt.step()
    v = opt.state_dict()["arrays"]["v"]
    out = {}
    for k in LAYERS:
        d, g = dense[k - 1], grads[k - 1]
        v_hat = _slice(model, v, d.params["W"]).astype(np.float64) / (1 - opt.beta2**opt.t)
        root = np.sqrt(v_hat[v_hat > 0])
        out[k] = {
            "rms_in": rms_in[k - 1],
            "norm_g": float(np.linalg.norm(g)),
            "zero_g": float(np.mean(g == 0)),
            "v_over_eps": float(np.median(root)) / eps if root.size else 0.0,
            "unchanged": float(np.mean(d.params["W"] == before[k - 1])),
        }
    return out


def _slice(model, state: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    """The part of Adam's state (one flat buffer, or one array per parameter) that belongs to
    ``w``, found by the position of ``w`` among the model's parameters."""
    flat = np.concatenate([a.reshape(-1) for a in state])
    position = 0
    for p, _ in model.parameters():
        if np.shares_memory(p, w):
            return flat[position : position + w.size]
        position += p.size
    raise ValueError("W is not a parameter of the model")


def _spread(norms: np.ndarray) -> list[tuple[float, float]]:
    """Per column (layer): (median over steps, max / median); inf if the median is 0."""
    out = []
    for column in norms.T:
        median = float(np.median(column))
        out.append((median, float(column.max()) / median if median > 0 else float("inf")))
    return out


def main() -> None:
    data = load_dataset("mnist", val_size=1000, split="carve", seed=0, fallback="sample")
    print(f"# First Adam steps, {DEPTH} ReLU layers of {WIDTH}, lr {LR}, float32\n")
    print(f"Written by `first_steps.py` (its docstring defines the columns). Data: "
          f"{data.info['source']}; {data.info['split']}; {data.info['validation']}; "
          f"{len(data.y_train)} training digits, batches of 32.\n")  # fmt: skip
    for name, bgn, eps in VARIANTS:
        model = tb.mlp(hidden=[WIDTH] * DEPTH, activation="relu", bgn=bgn,
                       seed=derive_seed("mechanism", "relu", 0))  # fmt: skip
        opt = tb.Adam(model.parameters(), lr=LR, eps=eps)
        stream = list(batches(data.x_train, data.y_train, 32, seed=0))
        first = layer_table(model, opt, *stream[0], eps)
        dense = [layer for layer in model.layers if isinstance(layer, tb.Dense)]
        norms = []  # per step, the norm of g_W of the LAYERS
        for x, y in stream[1:-1]:
            _, dlogits = tb.softmax_cross_entropy(model.forward(x), y)
            model.backward(dlogits)
            norms.append([float(np.linalg.norm(dense[k - 1].grads["W"])) for k in LAYERS])
            opt.step()
        last = layer_table(model, opt, *stream[-1], eps)
        spread = _spread(np.array(norms))
        print(f"## {name}\n")
        head = [f"step 1: {c[1]}" for c in COLUMNS] + [f"step {opt.t}: {c[1]}" for c in COLUMNS]
        print("| Dense layer | " + " | ".join(head) + " |")
        print("|---" * (1 + len(head)) + "|")
        for k in LAYERS:
            cells = [fmt.format(table[k][key]) for table in (first, last)
                     for key, _, fmt in COLUMNS]  # fmt: skip
            print(f"| {k} | " + " | ".join(cells) + " |")
        print("\nOver the epoch's steps, the norm of g_W of each layer: median, and the largest "
              "/ median (Adam's v_hat is an average of g^2 over the last ~1000 steps, so a few "
              "large steps set its size for all):\n")  # fmt: skip
        print("| Dense layer | " + " | ".join(str(k) for k in LAYERS) + " |")
        print("|---" * (1 + len(LAYERS)) + "|")
        print("| median | " + " | ".join(f"{m:.1e}" for m, _ in spread) + " |")
        print("| max / median | " + " | ".join(f"{r:.1e}" for _, r in spread) + " |")
        print()


if __name__ == "__main__":
    main()
