"""A stack of layers run in order: forward from input to output, backward in reverse."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinybgn.errors import NonFiniteError, ShapeError
from tinybgn.layer import Layer
from tinybgn.trace import HEADER, TraceStep


class Sequential:
    """A sequential network: ``layers`` is the flat, ordered list of layer objects.

    Backward is reverse-mode differentiation over the recorded layers: the gradient of the loss
    w.r.t. the output is passed to the last layer's ``backward``, whose result goes to the one
    before, and so on. Each layer **sets** its ``grads``.

    All parameters (and, separately, all gradients) are packed into one contiguous buffer,
    ``flat_params`` / ``flat_grads``; each layer's ``params[k]`` and ``grads[k]`` are views into
    it. Nothing changes for the layers, but the optimiser can then update the whole model with
    a few vectorised operations instead of a few per layer.

    The model checks its input (2-D, non-empty, finite) and the gradient given to ``backward``
    (finite), so bad data is reported here instead of as a NaN deep inside.
    """

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = list(layers)
        self.training = True
        self.last_trace: list[TraceStep] = []
        self._pack_parameters()

    def __repr__(self) -> str:
        inner = ",\n  ".join(map(repr, self.layers))
        return f"Sequential([\n  {inner}\n])"

    # -- parameters -------------------------------------------------------------------------
    def _pack_parameters(self) -> None:
        entries = [(layer, key) for layer in self.layers for key in layer.params]
        dtypes = {layer.params[key].dtype for layer, key in entries}
        if len(dtypes) > 1:
            raise TypeError(f"Sequential: all parameters must share one dtype, got {dtypes}")
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        total = sum(layer.params[key].size for layer, key in entries)
        self.flat_params = np.empty(total, dtype=self.dtype)
        self.flat_grads = np.zeros(total, dtype=self.dtype)
        start = 0
        for layer, key in entries:
            shape, stop = layer.params[key].shape, start + layer.params[key].size
            view = self.flat_params[start:stop].reshape(shape)
            view[...] = layer.params[key]
            layer.params[key] = view
            layer.grads[key] = self.flat_grads[start:stop].reshape(shape)
            start = stop

    def parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every ``(param, grad)`` pair, input layer first. Give this to an optimiser."""
        return [(layer.params[k], layer.grads[k]) for layer in self.layers for k in layer.params]

    def named_parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(name, param, grad)`` with names like ``"0.Dense.W"``."""
        return [
            (f"{i}.{type(layer).__name__}.{k}", layer.params[k], layer.grads[k])
            for i, layer in enumerate(self.layers)
            for k in layer.params
        ]

    def num_parameters(self) -> int:
        return int(self.flat_params.size)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all params and buffers, keyed ``"<index>.<name>"``; see ``load_state_dict``."""
        state = {}
        for i, layer in enumerate(self.layers):
            for k, v in {**layer.params, **layer.buffers}.items():
                state[f"{i}.{k}"] = v.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays saved by ``state_dict`` back into place (shapes must match)."""
        expected = self.state_dict().keys()
        if set(state) != set(expected):
            missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
            raise ShapeError(f"Sequential.load_state_dict: missing {missing}, unexpected {extra}")
        for i, layer in enumerate(self.layers):
            for store in (layer.params, layer.buffers):
                for k, v in store.items():
                    new = np.asarray(state[f"{i}.{k}"])
                    if new.shape != v.shape:
                        raise ShapeError(
                            f"Sequential.load_state_dict: {i}.{k} ({layer!r}) has shape "
                            f"{v.shape}, the state has {new.shape}"
                        )
                    v[...] = new

    # -- modes ----------------------------------------------------------------------------
    def train(self) -> Sequential:
        self.training = True
        return self

    def eval(self) -> Sequential:
        self.training = False
        return self

    # -- passes ---------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool | None = None) -> np.ndarray:
        """Run every layer in order. ``training`` defaults to the model's mode."""
        training = self.training if training is None else training
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ShapeError(
                f"Sequential.forward: expected a non-empty (N, features) batch, got {x.shape}"
            )
        if not np.isfinite(x).all():
            raise NonFiniteError("Sequential.forward: the input batch contains NaN or Inf")
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    __call__ = forward

    def backward(
        self,
        grad: np.ndarray,
        trace: bool | Callable[[TraceStep], None] = False,
        *,
        input_grad: bool = True,
    ) -> np.ndarray | None:
        """Backpropagate dL/d(output) through all layers; returns dL/d(input).

        ``trace=True`` prints one line per layer (equation, shapes, gradient norms) and keeps
        the steps in ``self.last_trace``; a callable receives each :class:`TraceStep` instead.

        ``input_grad=False`` is for training loops, which only need the parameter gradients:
        the first layer may then skip dL/d(input) (a Dense input layer skips eq. 3, its largest
        product), and None is returned. Ignored when tracing.
        """
        grad = np.asarray(grad, dtype=self.dtype)
        if not np.isfinite(grad).all():
            raise NonFiniteError("Sequential.backward: the incoming gradient contains NaN or Inf")
        if not trace:
            first = self.layers[0]
            first.needs_input_grad = input_grad
            try:
                for layer in reversed(self.layers):
                    grad = layer.backward(grad)
            finally:
                first.needs_input_grad = True
            return grad if input_grad else None
        steps = []
        if trace is True:
            print(HEADER)
        for index in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[index]
            grad_out = layer.backward(grad)
            step = TraceStep(index, layer, layer.equation, grad, grad_out, layer.trace_note())
            steps.append(step)
            if trace is True:
                print(step)
            else:
                trace(step)
            grad = grad_out
        self.last_trace = steps
        return grad
