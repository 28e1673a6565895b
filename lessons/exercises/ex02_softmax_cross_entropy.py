"""Exercise (lesson 2): the gradient of the softmax cross-entropy loss.

For logits ``z`` of shape (N, C) and integer labels ``y``, with ``p_n = softmax(z_n)``::

    L = -(1/N) sum_n log p_n[y_n]            (``loss`` below, written for you)

Write ``softmax_cross_entropy_backward``, returning ``dL/dz`` of shape (N, C) - derive it first
(lesson 2 does). Ready check: ``python lessons/exercises/ex02_softmax_cross_entropy.py``:
central finite differences of ``loss`` (relative error below 1e-6) and agreement with
``tinybgn.softmax_cross_entropy``. Worked solution:
``lessons/exercises/solutions/ex02_softmax_cross_entropy.py``.
"""

import numpy as np


def loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """The mean cross-entropy, computed stably (log-sum-exp after subtracting the row max)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def softmax_cross_entropy_backward(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    # Your code: dL/dz for the loss above.
    raise NotImplementedError("write softmax_cross_entropy_backward: dL/dz")


if (
    __name__ == "__main__"
):  # the ready check: python lessons/exercises/ex02_softmax_cross_entropy.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
