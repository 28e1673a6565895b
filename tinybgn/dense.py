"""The fully connected layer and its backward pass, eqs. (1)-(3) of the paper."""

from __future__ import annotations

import numpy as np

from tinybgn.init import INITIALIZERS
from tinybgn.layer import Layer, batch_sum


class Dense(Layer):
    """Affine layer ``z = W x + b``.

    The paper writes one sample as a column vector; the code stores one sample per *row*, so
    a batch ``x`` of shape (N, in_features) gives ``z`` of shape (N, out_features)::

        column form (paper)          batch form (code)
        z = W x + b                  z = x W^T + b            W: (out, in), b: (out,)

    Backward receives ``delta`` = dL/dz, shape (N, out), and applies eqs. (1)-(3), summed over
    the batch::

        (1) grad_W = delta x^T       grads["W"] = delta^T x   (out, in)
        (2) grad_b = delta           grads["b"] = sum_n delta (out,)
        (3) grad_x = W^T delta       returns    delta W       (N, in)

    (The sum over the batch in (2) is computed as ``(1, ..., 1) @ delta``, see
    :func:`tinybgn.layer.batch_sum`. As the first layer of a network trained with
    ``Sequential.backward(..., input_grad=False)`` the layer skips (3) and returns None.)

    Weights are Glorot-uniform by default (Keras's default; tinybgn assumes it, the paper states
    none) or ``"he_normal"``;
    biases start at zero. All draws come from ``rng``, so a seed fixes them bit for bit.
    """

    equation = "eqs. (1)-(3)"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "glorot_uniform",
        rng: np.random.Generator | None = None,
        dtype: type = np.float32,
    ) -> None:
        super().__init__()
        if init not in INITIALIZERS:
            raise ValueError(f"Dense: unknown init {init!r}; choose one of {sorted(INITIALIZERS)}")
        rng = np.random.default_rng(0) if rng is None else rng
        self.in_features, self.out_features = int(in_features), int(out_features)
        W = INITIALIZERS[init](self.in_features, self.out_features, rng).astype(dtype)
        self.params = {"W": W, "b": np.zeros(self.out_features, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.x: np.ndarray | None = None

    @property
    def W(self) -> np.ndarray:
        return self.params["W"]

    @property
    def b(self) -> np.ndarray:
        return self.params["b"]

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features})"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.x = self._check_input(x, self.in_features)
        z = self.x @ self.W.T  # z = W x + b, one row per sample
        z += self.b
        self.y_shape = z.shape
        return z

    def backward(self, delta: np.ndarray) -> np.ndarray | None:
        delta = self._check_grad(delta)
        np.matmul(delta.T, self.x, out=self.grads["W"])  # eq. (1)
        batch_sum(delta, out=self.grads["b"])  # eq. (2)
        if not self.needs_input_grad:  # first layer, training only: dL/dx is not needed
            return None
        return delta @ self.W  # eq. (3)
