"""Exercise (lesson 1): the backward pass of a Dense layer, eqs. (1)-(3).

``MyDense`` is ``tinybgn.Dense`` - the same weights, the same forward ``z = x W^T + b``, which
caches the input as ``self.x`` - with the backward pass left for you. Given ``delta = dL/dz``
of shape (N, out), one row per sample:

    (1) grad_W L = delta x^T   ->  self.grads["W"], shape (out, in), summed over the batch
    (2) grad_b L = delta       ->  self.grads["b"], shape (out,), summed over the batch
    (3) grad_x L = W^T delta   ->  return it, shape (N, in)

Write the gradients in place (``self.grads["W"][...] = ...``): backward *sets* them, it never
adds to them. Then run the ready check, ``python lessons/exercises/ex01_dense.py`` (or
``tinybgn lessons check`` for all exercises): it compares your backward with central finite
differences of the forward, on many shapes (relative error below 1e-7), and with
``tinybgn.Dense`` (below 1e-10). Worked solution: ``lessons/exercises/solutions/ex01_dense.py``.
"""

import numpy as np

import tinybgn as tb


class MyDense(tb.Dense):
    def backward(self, delta: np.ndarray) -> np.ndarray:
        delta = self._check_grad(delta)  # given: shape checks, a clear error before forward
        # Your code: eqs. (1)-(3). self.x is the last forward's input, self.W the weights.
        raise NotImplementedError("write MyDense.backward: eqs. (1)-(3)")


if __name__ == "__main__":  # the ready check: python lessons/exercises/ex01_dense.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
