"""Gradients of the residual grid's networks at initialisation: what eq. (9) becomes across skips.

Part of the residual study (README.md beside this file). No training and no statistics: for each
network of the grid, initialised with the seed of the study's run 0, one forward and backward
pass of the mean softmax cross-entropy on the first 256 carved MNIST training digits, in
float32 as in the study (BatchNorm with batch statistics, as in training). Per network:

* ``||delta^(K)||`` (eq. 6) at some Dense layers K: 1 = the stem (input side), the last hidden
  layer, and the output layer;
* ``cos``: the cosine between delta^(K) of the network with BGN and of the same weights without
  BGN (the builder draws the same weights with and without BGN), smallest over the hidden layers
  (and at which: 0 = the stem, counted from the input), the median over them, and at the stem.
  In a chain eq. (9) makes it exactly 1 (one multiple per layer). With skips,
  ``delta_BGN = sum_P (prod_{j in P} 1/n_j) delta_P`` over the backward paths P
  (:mod:`tinybgn.graph`): BGN in the branch (the paper's "before every activation", the grid's
  placement) scales the paths differently and the cosine drops below 1; BGN on the trunk (after
  every ``Add``, not in the grid) scales all paths through a layer alike, and it is 1 again;
* ``RMS logits``: the size of the forward signal at the output (a residual stream without
  normalisation grows block by block).

    TINYBGN_DATA=../shared/data/mnist python docs/results/residual/init_probe.py \
        > docs/results/residual/init_probe.md
"""

from __future__ import annotations

import numpy as np

import tinybgn as tb
from tinybgn.data import load_dataset
from tinybgn.experiments.jobs import derive_seed
from tinybgn.probes import dense_deltas

WIDTH, PROBE = 64, 256
PLACEMENTS = [("plain", False, "branch"), ("BGN branch", True, "branch"),
              ("BGN trunk", True, "trunk")]  # fmt: skip


def probe(net, x, y) -> tuple[list[np.ndarray], float]:
    """delta^(K) of every Dense layer (float64), and the RMS of the logits, on (x, y)."""
    logits = net.forward(x, training=True).astype(np.float64)
    return dense_deltas(net, x, y), float(np.sqrt(np.mean(logits**2)))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.vdot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def main() -> None:
    data = load_dataset("mnist", val_size=1000, split="carve", seed=0)  # the study's split
    x, y = data.x_train[:PROBE], data.y_train[:PROBE]
    print("# Residual networks at initialisation: gradient norms and eq. (9) across skips\n")
    source, n = data.info["source"], len(data.x_train)
    print(f"Written by `init_probe.py` (its docstring gives the method): {source}, the first "
          f"{PROBE} of the {n} carved training digits, float32, the weights of run 0 of each "
          "variant (`derive_seed(\"residual\", activation, depth, 0)`).\n")  # fmt: skip
    print("| activation | depth | BN | BGN | ‖δ‖ stem | ‖δ‖ last hidden | ‖δ‖ output | "
          "cos min (hidden) | at layer | cos median | cos stem | RMS logits |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for activation in ("relu", "tanh"):
        for depth in (90, 120):
            seed = derive_seed("residual", activation, depth, 0)
            for batchnorm in (False, True):
                found = {}
                for name, bgn, placement in PLACEMENTS:
                    net = tb.residual_mlp(hidden=[WIDTH] * depth, activation=activation,
                                          batchnorm=batchnorm, bgn=bgn,
                                          bgn_placement=placement, seed=seed)  # fmt: skip
                    found[name] = probe(net, x, y)
                plain = found["plain"][0]
                for name, (deltas, rms) in found.items():
                    norms = [np.linalg.norm(d) for d in deltas]
                    if name == "plain":
                        cos_min = at = cos_med = cos_stem = "-"
                    else:
                        cos = [cosine(a, b) for a, b in zip(deltas[:-1], plain[:-1], strict=True)]
                        cos_min, cos_stem = f"{min(cos):.3f}", f"{cos[0]:.3f}"
                        at, cos_med = int(np.argmin(cos)), f"{np.median(cos):.3f}"
                        at = "-" if cos_min == "1.000" else at  # all 1: no layer stands out
                    print(f"| {activation} | {depth} | {batchnorm} | {name} | {norms[0]:.3g} | "
                          f"{norms[-2]:.3g} | {norms[-1]:.3g} | {cos_min} | {at} | {cos_med} | "
                          f"{cos_stem} | {rms:.3g} |")  # fmt: skip


if __name__ == "__main__":
    main()
