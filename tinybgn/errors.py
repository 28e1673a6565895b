"""Exceptions raised by tinybgn.

Every error a user can trigger derives from :class:`TinyBGNError`, so ``except TinyBGNError``
catches all of them, and each also derives from the built-in class that fits (``ValueError``,
``RuntimeError``) so generic code keeps working.
"""


class TinyBGNError(Exception):
    """Base class of every tinybgn error."""


class ShapeError(TinyBGNError, ValueError):
    """An array has the wrong shape for the layer or function that received it."""


class NonFiniteError(TinyBGNError, FloatingPointError):
    """An array contains NaN or Inf where finite numbers are required."""


class LabelError(TinyBGNError, ValueError):
    """Class labels are not integers in ``[0, n_classes)``."""


class StateError(TinyBGNError, RuntimeError):
    """A method was called in the wrong order (e.g. ``backward`` before ``forward``)."""


class GraphError(TinyBGNError, ValueError):
    """A graph of layers cannot be run: a cycle, an unconnected input, a layer called on a
    non-node (see :mod:`tinybgn.graph`)."""
