"""Batch normalisation (Ioffe & Szegedy, 2015), the paper's comparison method."""

from __future__ import annotations

import numpy as np

from tinybgn.errors import ShapeError
from tinybgn.layer import Layer, batch_mean, batch_sum


class BatchNorm(Layer):
    """Normalise each feature over the batch, then scale and shift.

    Training (batch statistics, biased variance)::

        mu = mean_n x          var = mean_n (x - mu)^2        inv_std = 1 / sqrt(var + eps)
        x_hat = (x - mu) * inv_std                            y = gamma * x_hat + beta

    Evaluation uses the running statistics instead of mu and var. They are updated in training
    as ``running = momentum * running + (1 - momentum) * batch_stat``.

    Backward, with g = dL/dy of shape (N, D) and g_hat = gamma * g::

        grads["gamma"] = sum_n g * x_hat        grads["beta"] = sum_n g
        dx = inv_std * (g_hat - mean_n g_hat - x_hat * mean_n(g_hat * x_hat))   (training)
        dx = inv_std * g_hat                                                    (evaluation)

    Training needs batches of at least 2 samples (a ShapeError otherwise).

    Defaults are Keras's, an assumption (the paper names no framework): ``momentum=0.99``,
    ``eps=1e-3`` (PyTorch uses
    a momentum of 0.1 on the *new* value and eps=1e-5; Keras also keeps the biased variance in
    its running average, as done here).
    """

    equation = "BN backward (Ioffe & Szegedy 2015)"

    def __init__(
        self, features: int, *, eps: float = 1e-3, momentum: float = 0.99, dtype: type = np.float32
    ) -> None:
        super().__init__()
        self.features, self.eps, self.momentum = int(features), float(eps), float(momentum)
        self.params = {
            "gamma": np.ones(features, dtype=dtype),
            "beta": np.zeros(features, dtype=dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(features, dtype=dtype),
            "running_var": np.ones(features, dtype=dtype),
        }
        self.training = True

    def __repr__(self) -> str:
        return f"BatchNorm({self.features}, eps={self.eps:g}, momentum={self.momentum:g})"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = self._check_input(x, self.features)
        self.training = training
        if training and len(x) < 2:
            raise ShapeError(
                f"{self!r}: a training batch needs at least 2 samples (one sample has variance "
                "0, so x_hat = 0 and the layer learns nothing); use a larger batch"
            )
        if training:
            mu = batch_mean(x)
            xc = x - mu
            var = batch_mean(np.square(xc))  # biased variance, as in the paper [7]
            self._update_running(mu, var)
        else:
            xc = x - self.buffers["running_mean"]
            var = self.buffers["running_var"]
        self.inv_std = (var + self.eps) ** -0.5  # 1 / sqrt(var + eps)
        xc *= self.inv_std
        self.x_hat = xc  # (x - mu) * inv_std
        y = self.x_hat * self.params["gamma"]
        y += self.params["beta"]
        self.y_shape = y.shape
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = self._check_grad(grad)
        gamma, dgamma, dbeta = self.params["gamma"], self.grads["gamma"], self.grads["beta"]
        batch_sum(grad * self.x_hat, out=dgamma)  # sum_n g * x_hat
        batch_sum(grad, out=dbeta)  # sum_n g
        scale = gamma * self.inv_std
        if not self.training:
            return grad * scale  # inv_std * g_hat
        # inv_std * (g_hat - mean_n g_hat - x_hat * mean_n(g_hat x_hat)), with g_hat = gamma g,
        # is gamma * inv_std * (g - dbeta / N - x_hat * dgamma / N):
        n = len(grad)
        dx = self.x_hat * (dgamma / n)
        np.subtract(grad, dx, out=dx)
        dx -= dbeta / n
        dx *= scale
        return dx

    # -- helpers ----------------------------------------------------------------------------
    def _update_running(self, mu: np.ndarray, var: np.ndarray) -> None:
        """running = momentum * running + (1 - momentum) * batch statistic, in place."""
        m = self.momentum
        for running, stat in (
            (self.buffers["running_mean"], mu),
            (self.buffers["running_var"], var),
        ):
            running *= m
            running += (1 - m) * stat
