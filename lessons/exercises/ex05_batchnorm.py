"""Exercise (lesson 5): the backward pass of BatchNorm (training mode).

``MyBatchNorm`` is ``tinybgn.BatchNorm`` - its forward normalises each feature over the batch
and caches ``self.x_hat = (x - mu) / sqrt(sigma^2 + epsilon)`` and
``self.inv_std = 1 / sqrt(sigma^2 + epsilon)``; then ``y = gamma x_hat + beta`` - with the
backward pass left for you. Given ``g = dL/dy`` of shape (N, D) and ``g_hat = gamma g``::

    grads["gamma"] = sum_n g x_hat          grads["beta"] = sum_n g
    dL/dx = inv_std (g_hat - mean_n g_hat - x_hat mean_n(g_hat x_hat))

(lesson 5 explains the two subtracted terms: through mu and through sigma). In evaluation mode
(``self.training`` is False) the forward used the running statistics, fixed numbers, so
BatchNorm is an affine map per feature and ``dL/dx = inv_std g_hat``. Write the gradients in
place (``self.grads["gamma"][...] = ...``).

Ready check: ``python lessons/exercises/ex05_batchnorm.py`` - central finite differences with
a random upstream gradient (never all ones: with ``dy = 1`` a backward that forgets the
variance term still passes) on many shapes, relative error below 1e-7, and agreement with
``tinybgn.BatchNorm``. Worked solution: ``lessons/exercises/solutions/ex05_batchnorm.py``.
"""

import numpy as np

import tinybgn as tb


class MyBatchNorm(tb.BatchNorm):
    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = self._check_grad(grad)  # given: shape checks, a clear error before forward
        # Your code: the three gradients above (and the evaluation-mode dL/dx).
        raise NotImplementedError("write MyBatchNorm.backward")


if __name__ == "__main__":  # the ready check: python lessons/exercises/ex05_batchnorm.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
