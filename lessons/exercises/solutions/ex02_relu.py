"""Worked solution of ``lessons/exercises/ex02_relu.py``: eq. (6)'s ``∘ f'(z)`` for ReLU.

The derivative is read from the cached *input* z: 1 where z > 0, else 0. (A common slip is to
multiply by the output y = f(z) instead of by f'(z).)
"""

import numpy as np

import tinybgn as tb


class MyReLU(tb.ReLU):
    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = self._check_grad(grad)  # given: shape checks, a clear error before forward
        return grad * (self.z > 0)  # eq. (6): f'(z) = 1 where z > 0, else 0


if __name__ == "__main__":  # the ready check: python lessons/exercises/solutions/ex02_relu.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
