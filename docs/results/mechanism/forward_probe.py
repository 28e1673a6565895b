"""How much of the input survives the forward pass of a 90-layer MLP at initialisation?

Part of the mechanism study (README.md beside this file): BGN is the identity on the forward
pass (eq. 4), so whatever the forward pass loses, BGN cannot give back. One network per
activation, initialised as the study's run 0 (Glorot-uniform weights, zero biases, float32),
one forward pass of 256 training digits of the study's carved split. For the input h of some
Dense layers K (K = 1 sees the digits, K = 91 is the output layer, whose input is the last
hidden layer's output):

* ``RMS of h``: root mean square of h over the batch and the units;
* ``between-digit spread``: the standard deviation *across the 256 digits*, RMS over the units,
  divided by the RMS of h; 1 means h varies as much as it is large, 0 that every digit gives
  the same h;
* ``distinct digits``: how many of the 256 digits give a different h (bit for bit, float32);
  1 means the layer sees one and the same vector whatever the digit.

A layer whose input no longer depends on the digit cannot tell digits apart, whatever its
gradient: the network above it can only learn the class prior (0.1135) until training has
made the layers below keep the input.

    TINYBGN_DATA=../shared/data/mnist python docs/results/mechanism/forward_probe.py \
        > docs/results/mechanism/forward_probe.md
"""

from __future__ import annotations

import numpy as np

import tinybgn as tb
from tinybgn.data import load_dataset
from tinybgn.experiments.jobs import derive_seed

DEPTH, WIDTH, N = 90, 64, 256
ACTIVATIONS = ["relu", "sigmoid", "tanh"]
LAYERS = [1, 2, 5, 10, 20, 30, 45, 60, 80, 91]


def dense_inputs(model, x: np.ndarray) -> list[np.ndarray]:
    """The input h of every Dense layer, input to output, from one forward pass."""
    inputs, h = [], x
    for layer in model.layers:
        if isinstance(layer, tb.Dense):
            inputs.append(h)
        h = layer.forward(h)
    return inputs


def describe(h: np.ndarray) -> tuple[float, float, int]:
    """(RMS of h, between-digit spread, distinct digits): see the module docstring."""
    h64 = h.astype(np.float64)
    rms = float(np.sqrt(np.mean(h64**2)))
    spread = float(np.sqrt(np.mean(h64.std(axis=0) ** 2))) / rms if rms > 0 else 0.0
    return rms, spread, int(np.unique(h, axis=0).shape[0])


def main() -> None:
    data = load_dataset("mnist", val_size=1000, split="carve", seed=0, fallback="sample")
    x = data.x_train[:N]
    print(f"# The forward signal at initialisation, {DEPTH} layers of {WIDTH}, float32\n")
    print(f"Written by `forward_probe.py` (its docstring defines the columns). Data: "
          f"{data.info['source']}; {data.info['split']}; {data.info['validation']}; the first "
          f"{N} training digits. "
          "BGN does not change these numbers (it is the identity on the forward pass, "
          "eq. 4).\n")  # fmt: skip
    head = ["RMS of h", "between-digit spread", "distinct digits"]
    print("| Dense layer K | " + " | ".join(f"{a}: {c}" for a in ACTIVATIONS for c in head) + " |")
    print("|---" * (1 + len(head) * len(ACTIVATIONS)) + "|")
    rows = {}
    for activation in ACTIVATIONS:
        model = tb.mlp(hidden=[WIDTH] * DEPTH, activation=activation,
                       seed=derive_seed("mechanism", activation, 0))  # fmt: skip
        inputs = dense_inputs(model, x)
        rows[activation] = {k: describe(inputs[k - 1]) for k in LAYERS}
    for k in LAYERS:
        cells = []
        for activation in ACTIVATIONS:
            rms, spread, distinct = rows[activation][k]
            cells += [f"{rms:.2g}", f"{spread:.2g}", str(distinct)]
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
