"""Probes inside a network: gradient norms per layer (Figures 1-2), weight change (Figure 3).

For the K-th Dense layer ``z^(K) = W^(K) x^(K) + b^(K)`` the paper plots, on a log scale:

* ``||delta^(K)||`` with ``delta^(K) = dL/dz^(K)`` (eq. 6; eq. 7 with BGN): the gradient of the
  layer's weighted sum z, before the non-linearity - in a ``Dense -> [BN] -> [BGN] -> f`` block,
  what the Dense receives after BN's and BGN's backward;
* ``||grad_W L|| = ||delta^(K) x^(K)T||`` (eq. 1, eq. 10), the gradient of the weights.

Norms are Frobenius norms over the whole batch tensor, the norm BGN uses (eq. 5). With BGN and no
BN, every hidden ``delta`` has norm exactly kappa = sqrt(64) = 8 (eq. 7), whatever the depth.

``weight_change`` gives the mean absolute change of each Dense layer's weights between two
snapshots, ``mean_ij |W_after - W_before|`` (Figure 3).
"""

from __future__ import annotations

import copy

import numpy as np

from tinybgn.activations import Activation
from tinybgn.bgn import BGN
from tinybgn.dense import Dense
from tinybgn.losses import softmax_cross_entropy
from tinybgn.sequential import Sequential
from tinybgn.trace import TraceStep


def gradient_norms(
    model: Sequential, x: np.ndarray, y: np.ndarray, *, training: bool = True
) -> dict[str, np.ndarray]:
    """||delta^(K)|| and ||grad_W L|| for every Dense layer K, from the input to the output.

    One forward and one backward pass of the mean softmax cross-entropy on the batch ``(x, y)``.
    ``training=True`` (default) uses batch statistics in BatchNorm, as during training; the
    running statistics are restored afterwards, so probing does not change the model. The
    model's ``grads`` are overwritten (as by any backward pass).

    Returns a dict of float64 arrays of length = number of Dense layers:
    ``"layer"`` (1 = first hidden, last = output layer), ``"index"`` (position in
    ``model.layers``), ``"delta"`` = ||dL/dz^(K)||, ``"weight"`` = ||dL/dW^(K)||.
    """
    saved = [{k: v.copy() for k, v in layer.buffers.items()} for layer in model.layers]
    found: dict[int, tuple[float, float]] = {}

    def record(step: TraceStep) -> None:
        if isinstance(step.layer, Dense):
            delta = float(np.linalg.norm(step.grad_in.astype(np.float64)))
            weight = float(np.linalg.norm(step.layer.grads["W"].astype(np.float64)))
            found[step.index] = (delta, weight)

    try:
        logits = model.forward(x, training=training)
        _, dlogits = softmax_cross_entropy(logits, y)
        model.backward(dlogits, trace=record)
    finally:
        for layer, buffers in zip(model.layers, saved, strict=True):
            for k, v in buffers.items():
                layer.buffers[k][...] = v
    index = np.array(sorted(found), dtype=np.int64)
    return {
        "layer": np.arange(1, len(index) + 1),
        "index": index,
        "delta": np.array([found[i][0] for i in index]),
        "weight": np.array([found[i][1] for i in index]),
    }


def dense_weights(model_or_state: Sequential | dict[str, np.ndarray]) -> list[np.ndarray]:
    """Copies of the weight matrices W of every Dense layer, input to output.

    Accepts a model or a ``state_dict()`` (where Dense weights are the keys ``"<index>.W"``).
    """
    if isinstance(model_or_state, Sequential):
        return [layer.W.copy() for layer in model_or_state.layers if isinstance(layer, Dense)]
    keys = sorted((k for k in model_or_state if k.endswith(".W")), key=lambda k: int(k[:-2]))
    return [np.array(model_or_state[k], copy=True) for k in keys]


def weight_change(
    before: Sequential | dict | list[np.ndarray], after: Sequential | dict | list[np.ndarray]
) -> np.ndarray:
    """Mean absolute weight change per Dense layer: ``mean_ij |W_after - W_before|`` (Fig. 3).

    ``before``/``after`` are models, state dicts or lists from :func:`dense_weights` (take a
    snapshot before training: ``w0 = dense_weights(model)``). Returns a float64 array, one
    entry per Dense layer, input to output.
    """
    w0 = before if isinstance(before, list) else dense_weights(before)
    w1 = after if isinstance(after, list) else dense_weights(after)
    if len(w0) != len(w1) or any(a.shape != b.shape for a, b in zip(w0, w1, strict=False)):
        raise ValueError("weight_change: the two snapshots have different architectures")
    return np.array(
        [np.mean(np.abs(b.astype(np.float64) - a)) for a, b in zip(w0, w1, strict=True)]
    )


def with_bgn(model: Sequential, kappa: float | None = None) -> Sequential:
    """A copy of ``model`` with a BGN layer just before every activation that lacks one.

    The forward pass is unchanged (BGN is the identity, eq. 4), so this measures how BGN would
    rescale the gradients of a network trained without it (Figure 2). ``model`` is not modified.
    """
    layers = []
    for layer in model.layers:
        if isinstance(layer, Activation) and not (layers and isinstance(layers[-1], BGN)):
            layers.append(BGN(kappa=kappa))
        layers.append(copy.deepcopy(layer))
    net = Sequential(layers)
    net.training = model.training
    return net


__all__ = ["dense_weights", "gradient_norms", "weight_change", "with_bgn"]
