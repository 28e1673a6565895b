"""Worked solution of ``lessons/exercises/ex05_batchnorm.py``: BatchNorm's backward (training).

mu and sigma depend on every sample, so dL/dx has, besides the direct term ``g_hat``, one term
through the mean and one through the variance; forgetting the second is the classic bug.
"""

import numpy as np

import tinybgn as tb


class MyBatchNorm(tb.BatchNorm):
    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = self._check_grad(grad)  # given: shape checks, a clear error before forward
        g_hat = grad * self.params["gamma"]
        self.grads["gamma"][...] = (grad * self.x_hat).sum(axis=0)
        self.grads["beta"][...] = grad.sum(axis=0)
        if not self.training:  # running statistics: mu and sigma do not depend on x
            return self.inv_std * g_hat
        through_mu = g_hat.mean(axis=0)
        through_sigma = self.x_hat * (g_hat * self.x_hat).mean(axis=0)
        return self.inv_std * (g_hat - through_mu - through_sigma)


if __name__ == "__main__":  # the ready check: python lessons/exercises/solutions/ex05_batchnorm.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
