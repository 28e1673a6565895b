"""Softmax cross-entropy, the loss of the paper's classifiers."""

from __future__ import annotations

import numpy as np

from tinybgn.errors import LabelError, NonFiniteError, ShapeError


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``softmax(logits)`` against integer ``labels``, and its gradient.

    With p = softmax(z) for one sample and y its one-hot label::

        L = -(1/N) sum_n log p_n[y_n]        dL/dz = (p - onehot(y)) / N

    Stable for huge logits: z - max(z) is exponentiated (log-sum-exp trick), so nothing
    overflows. ``logits`` has shape (N, C); ``labels`` are N integers in [0, C).
    Returns ``(loss, dlogits)``, dlogits with the shape and dtype of ``logits``.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ShapeError(
            f"softmax_cross_entropy: logits must be (N, C) with N > 0, got {logits.shape}"
        )
    n, c = logits.shape
    if labels.shape != (n,):
        raise ShapeError(f"softmax_cross_entropy: expected {n} labels, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise LabelError(
            f"softmax_cross_entropy: labels must be integers, got dtype {labels.dtype}"
        )
    if labels.min() < 0 or labels.max() >= c:
        raise LabelError(
            f"softmax_cross_entropy: labels must lie in [0, {c}), got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    if not np.isfinite(logits).all():
        raise NonFiniteError(
            "softmax_cross_entropy: logits contain NaN or Inf (did training diverge?)"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(sum_exp[:, 0]) - shifted[rows, labels]))
    dlogits = exp / sum_exp  # p
    dlogits[rows, labels] -= 1  # p - onehot(y)
    dlogits /= n
    return loss, dlogits
