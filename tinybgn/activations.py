"""Element-wise activations. Their backward is the ``∘ f'(z)`` factor of eq. (6)::

    delta^(K) = [W^T delta^(K+1)] ∘ f'(z^(K))        (6)

The bracket is the gradient that arrives from above (``grad``); each class multiplies it by its
own derivative, written in terms of what forward cached.
"""

from __future__ import annotations

import numpy as np

from tinybgn.layer import Layer


class Activation(Layer):
    """Shared shape bookkeeping; subclasses define ``f`` (forward) and ``f_prime`` (backward)."""

    equation = "eq. (6): ∘ f'(z)"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def forward(self, z: np.ndarray, training: bool = True) -> np.ndarray:
        self.z = self._check_input(z)
        self.y = self.f(self.z)
        self.y_shape = self.y.shape
        return self.y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = self._check_grad(grad)
        return grad * self.f_prime()  # eq. (6)

    def f(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def f_prime(self) -> np.ndarray:
        raise NotImplementedError


class ReLU(Activation):
    """f(z) = max(z, 0);  f'(z) = 1 where z > 0, else 0."""

    def f(self, z):
        return np.maximum(z, 0)

    def f_prime(self):
        return self.z > 0


class Sigmoid(Activation):
    """f(z) = 1 / (1 + e^-z);  f'(z) = f(z) (1 - f(z)).

    z is clipped from below at -floor(log(largest float)) (-88 in float32, -709 in float64) so
    that e^-z cannot overflow; this changes f only where it is below the smallest normal float.
    """

    def f(self, z):
        lowest = -np.floor(np.log(np.finfo(z.dtype).max))
        y = np.maximum(z, lowest)
        np.negative(y, out=y)
        np.exp(y, out=y)  # e^-z
        y += 1
        return np.reciprocal(y, out=y)

    def f_prime(self):
        return self.y * (1 - self.y)


class Tanh(Activation):
    """f(z) = tanh(z);  f'(z) = 1 - f(z)^2."""

    def f(self, z):
        return np.tanh(z)

    def f_prime(self):
        return 1 - self.y * self.y


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
