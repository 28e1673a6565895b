"""Worked solution of ``lessons/exercises/ex02_softmax_cross_entropy.py``.

d/dz_nc of log sum_c' e^(z_nc') is p_nc, and of -z_(n,y_n) is -[c = y_n]; the mean over the
batch contributes 1/N: dL/dz = (p - onehot(y)) / N.
"""

import numpy as np


def loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """The mean cross-entropy, computed stably (log-sum-exp after subtracting the row max)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def softmax_cross_entropy_backward(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)  # softmax is shift-invariant
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1  # p - onehot(y)
    return p / len(labels)  # the 1/N of the mean


if (
    __name__ == "__main__"
):  # the ready check: python lessons/exercises/solutions/ex02_softmax_cross_entropy.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
