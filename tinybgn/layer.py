"""The layer contract that every tinybgn layer follows.

A layer maps a batch ``x`` of shape ``(N, ...)`` (one row per sample) to ``y`` on the forward
pass, and on the backward pass maps ``grad`` = dL/dy to dL/dx::

    y = layer.forward(x, training=True)
    grad_x = layer.backward(grad)          # same shape as x

Trainable arrays live in ``layer.params`` and their gradients in ``layer.grads`` under the same
keys (``"W"``, ``"b"``, ``"gamma"``, ...). ``backward`` **sets** ``grads`` (it overwrites them in
place; it never accumulates), so calling it twice with the same input gives the same gradients.
Non-trainable state that must be saved with a model (BatchNorm's running statistics) lives in
``layer.buffers``.

``forward`` caches only what ``backward`` needs, under the paper's names (``self.x``, ``self.z``,
``self.x_hat``...), and binds *new* arrays to them (it never writes into the previous forward's
cache): a layer used twice in a graph (:mod:`tinybgn.graph`) keeps one cache per use by saving
a shallow copy of its attributes after each use's forward. Layers check shapes and call order,
which is cheap; checks for NaN/Inf are made once per step at the model's boundaries (see
:class:`tinybgn.Model` and the loss).
"""

from __future__ import annotations

import functools

import numpy as np

from tinybgn.errors import ShapeError, StateError


class Layer:
    """Base class: holds ``params``/``grads``/``buffers`` and the shared argument checks."""

    #: The paper's equation(s) that ``backward`` applies; shown by traces.
    equation = ""

    #: False while ``Model.backward(..., input_grad=False)`` runs this layer on the input
    #: of a network: then no one needs dL/dx, and a layer may skip it and return None (Dense
    #: does, saving its largest product: the 784-wide input layer's ``delta @ W``).
    needs_input_grad = True

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.y_shape: tuple[int, ...] | None = None  # shape of the last output; None before forward

    #: How many input nodes the layer takes in a graph: 1, or None for "two or more" (Add).
    n_inputs: int | None = 1

    def __call__(self, *inputs, name: str | None = None):
        """Call the layer on graph nodes: ``tb.Dense(784, 64)(x)`` is the node of its output
        (see :mod:`tinybgn.graph`); ``name`` names the node in errors and traces."""
        from tinybgn.graph import connect  # graph builds on this module

        return connect(self, inputs, name)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def trace_note(self) -> str:
        """A short line about the last backward pass, for :mod:`tinybgn.trace`."""
        return ""

    # -- checks shared by all layers -------------------------------------------------------
    def _check_input(self, x: np.ndarray, features: int | None = None) -> np.ndarray:
        """Return ``x`` as an array, or raise a ShapeError that names this layer."""
        x = np.asarray(x)
        if x.ndim != 2:
            raise ShapeError(
                f"{self!r}: expected a batch of shape (N, features), got shape {x.shape}"
            )
        if x.shape[0] == 0:
            raise ShapeError(f"{self!r}: empty batch (N = 0)")
        if features is not None and x.shape[1] != features:
            raise ShapeError(
                f"{self!r}: expected {features} features per sample, got shape {x.shape}"
            )
        return x

    def _check_grad(self, grad: np.ndarray) -> np.ndarray:
        """Return ``grad`` as an array of the last output's shape, or raise naming this layer."""
        if self.y_shape is None:
            raise StateError(f"{self!r}: backward() called before forward()")
        grad = np.asarray(grad)
        if grad.shape != self.y_shape:
            raise ShapeError(
                f"{self!r}: gradient has shape {grad.shape}, but the last forward() "
                f"output had shape {self.y_shape}"
            )
        return grad


# -- sums and means over the batch axis, shared by Dense (eq. 2) and BatchNorm ---------------
def batch_sum(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``sum_n a[n]``: the sum over the batch (first) axis of a 2-D array, shape (D,).

    Computed as the matrix-vector product ``(1, ..., 1) @ a``: the same sum as
    ``a.sum(axis=0)`` up to rounding, but a single BLAS call, 2-3x faster for the small
    batches of this network (see docs/performance.md).
    """
    return np.matmul(_constant_row(len(a), 1.0, a.dtype), a, out=out)


def batch_mean(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``mean_n a[n]``, as the matrix-vector product ``(1/N, ..., 1/N) @ a`` (see batch_sum)."""
    return np.matmul(_constant_row(len(a), 1.0 / len(a), a.dtype), a, out=out)


@functools.lru_cache(maxsize=64)
def _constant_row(n: int, value: float, dtype: np.dtype) -> np.ndarray:
    row = np.full(n, value, dtype=dtype)
    row.flags.writeable = False  # shared by every caller
    return row
