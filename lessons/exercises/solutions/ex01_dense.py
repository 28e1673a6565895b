"""Worked solution of ``lessons/exercises/ex01_dense.py``: eqs. (1)-(3) for a batch.

The batch form sums eqs. (1) and (2) over the samples (the loss is a sum over them), which
``delta.T @ x`` and ``delta.sum(axis=0)`` do in one go; eq. (3) acts on each row.
"""

import numpy as np

import tinybgn as tb


class MyDense(tb.Dense):
    def backward(self, delta: np.ndarray) -> np.ndarray:
        delta = self._check_grad(delta)  # given: shape checks, a clear error before forward
        self.grads["W"][...] = delta.T @ self.x  # eq. (1), summed over the batch
        self.grads["b"][...] = delta.sum(axis=0)  # eq. (2), summed over the batch
        return delta @ self.W  # eq. (3), W^T delta for every row


if __name__ == "__main__":  # the ready check: python lessons/exercises/solutions/ex01_dense.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
