"""A stack of layers run in order: the chain case of :class:`tinybgn.Model`."""

from __future__ import annotations

from tinybgn.graph import Input, Model, connect
from tinybgn.layer import Layer


class Sequential(Model):
    """A sequential network: ``layers`` is the flat, ordered list of layer objects.

    It is the graph ``x -> layers[0] -> layers[1] -> ... -> layers[-1]`` run by the engine of
    :class:`tinybgn.Model` (one implementation): forward from input to output, backward in
    reverse, each gradient passed to the layer before (every node has one consumer, so the
    chain rule's sum at fan-out has a single term: eq. 6 applied layer by layer). Each layer
    **sets** its ``grads``. The input width is not fixed: the first layer checks it.

    All parameters (and, separately, all gradients) are packed into one contiguous buffer,
    ``flat_params`` / ``flat_grads``; each layer's ``params[k]`` and ``grads[k]`` are views into
    it. Nothing changes for the layers, but the optimiser can then update the whole model with
    a few vectorised operations instead of a few per layer. ``state_dict`` keys are
    ``"<index in layers>.<name>"``.

    The model checks its input (2-D, non-empty, finite) and the gradient given to ``backward``
    (finite), so bad data is reported here instead of as a NaN deep inside.
    """

    def __init__(self, layers: list[Layer]) -> None:
        x = node = Input(name="input")
        for i, layer in enumerate(layers):
            node = connect(layer, [node], name=f"{i}")
        super().__init__(x, node)

    def __repr__(self) -> str:
        inner = ",\n  ".join(map(repr, self.layers))
        return f"Sequential([\n  {inner}\n])"
