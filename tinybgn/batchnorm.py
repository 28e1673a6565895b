"""Batch normalisation (Ioffe & Szegedy, 2015), the paper's comparison method."""

from __future__ import annotations

import numpy as np

from tinybgn.layer import Layer


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

    Defaults are Keras's, which the paper used: ``momentum=0.99``, ``eps=1e-3`` (PyTorch uses
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
        if training:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc * xc, axis=0)  # biased variance, as in the paper [7]
            m = self.momentum
            self.buffers["running_mean"] *= m
            self.buffers["running_mean"] += (1 - m) * mu
            self.buffers["running_var"] *= m
            self.buffers["running_var"] += (1 - m) * var
        else:
            xc = x - self.buffers["running_mean"]
            var = self.buffers["running_var"]
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.x_hat = xc * self.inv_std
        y = self.x_hat * self.params["gamma"]
        y += self.params["beta"]
        self.y_shape = y.shape
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = self._check_grad(grad)
        np.sum(grad * self.x_hat, axis=0, out=self.grads["gamma"])
        np.sum(grad, axis=0, out=self.grads["beta"])
        g_hat = grad * self.params["gamma"]
        if not self.training:
            return g_hat * self.inv_std
        dx = g_hat - g_hat.mean(axis=0)
        dx -= self.x_hat * np.mean(g_hat * self.x_hat, axis=0)
        dx *= self.inv_std
        return dx
