"""Gradient methods: what happens to the parameter gradients between backward and the step.

BGN changes the deltas *during* backprop (eq. 5). The paper positions it against methods that
act on the gradients *after* backprop; these are here, so that a run can compare them::

    model.backward(dL/dlogits)
    grad_method.apply(model)          # may rescale the gradients in place
    optimizer.step()

* ``"none"`` - leave the gradients as backprop computed them.
* ``"block_normalized"`` - Yu et al. (2017), the paper's ref. [14]: every layer's parameter
  gradients, taken together as one block, are divided by their norm,
  ``g_l <- g_l / ||g_l||``, so each layer's gradient has norm 1 (a layer whose gradient is 0
  is left at 0). The paper's objection: after a vanishing backprop ``||g_l||`` may already
  have underflowed, and no normalisation can restore a direction that is gone.
* ``"clip"`` - global-norm clipping, Pascanu et al. (2013), the paper's ref. [5]: with ``G`` the
  norm of all gradients together, ``g <- g * clip_norm / G`` when ``G > clip_norm``; unchanged
  otherwise. It bounds exploding gradients and does nothing for vanishing ones.
* ``"frozen_bgn"`` - BGN with every n_K frozen at its value at initialisation (eq. 5 with a
  constant n_K, see :meth:`tinybgn.bgn.BGN.freeze_n_K`): measured on the first training batch
  at the initial weights, then a constant per-layer scale. It separates BGN's *scale* from its
  step-to-step *variation*. *Not* a method of the paper; it needs a model with BGN layers.

Interface (used by :func:`tinybgn.train.train`)::

    method = make_grad_method(name, **kwargs)
    method.prepare(model)                  # once, before the first training step
    method.apply(model)                    # after every backward, before optimizer.step()
    method.state_dict(model) / method.load_state_dict(model, state)   # checkpoints

``prepare`` and ``apply`` use only ``model.parameters()`` and ``model.layers``. Norms are
computed with :func:`tinybgn.bgn.l2_norm`, safe from overflow and underflow.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinybgn.bgn import BGN, l2_norm, rescale
from tinybgn.errors import StateError

#: Names accepted by :func:`make_grad_method`.
GRAD_METHODS = ("none", "block_normalized", "clip", "frozen_bgn")

#: ``clip_norm`` when none is given: 1.0, a common choice (an assumption; Pascanu et al.
#: suggest a threshold near the average gradient norm, which depends on the network).
DEFAULT_CLIP_NORM = 1.0


def _norm(arrays: list) -> float:
    """||(a_1, ..., a_n)||, the L2 norm of all entries together, without overflow."""
    with np.errstate(over="ignore"):  # l2_norm's fast path may overflow; it then rescales
        return math.hypot(*(l2_norm(a) for a in arrays))


class GradMethod:
    """``"none"``: the gradients are left as backprop computed them. Base of the others."""

    name = "none"

    def hyper(self) -> dict:
        """The settings a resumed run must share (compared by checkpoints)."""
        return {}

    def prepare(self, model) -> None:
        """Called once by ``train`` before the first training step of a fresh run."""

    def apply(self, model) -> None:
        """Called after every backward, before ``optimizer.step()``; may edit grads in place."""

    def state_dict(self, model) -> dict:
        """``{"name", "hyper", ...}``, JSON-able, for checkpoints."""
        return {"name": self.name, "hyper": self.hyper()}

    def load_state_dict(self, model, state: dict) -> None:
        """Restore ``state_dict()`` (instead of ``prepare``) when a run resumes."""
        if state.get("name") != self.name or state.get("hyper") != self.hyper():
            raise StateError(
                f"{type(self).__name__}: the state is for {state.get('name')!r} with "
                f"{state.get('hyper')}, not {self.name!r} with {self.hyper()}"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper().items())
        return f"{type(self).__name__}({args})"


class BlockNormalized(GradMethod):
    """Yu et al. (2017), ref. [14]: ``g_l <- g_l / ||g_l||`` for every layer l with parameters,
    the norm taken over all of that layer's parameter gradients (W and b together).
    ``last_norms`` keeps the norms ||g_l|| of the last call, in layer order."""

    name = "block_normalized"

    def __init__(self) -> None:
        self.last_norms: list[float] = []

    def apply(self, model) -> None:
        self.last_norms = []
        for layer in model.layers:
            grads = list(layer.grads.values())
            if not grads:
                continue
            norm = _norm(grads)  # ||g_l|| over the whole block
            self.last_norms.append(norm)
            for g in grads:
                g[...] = rescale(g, norm, 1.0)  # g_l / ||g_l||; zeros stay zeros


class Clip(GradMethod):
    """Pascanu et al. (2013), ref. [5]: with ``G = ||(g_1, ..., g_P)||`` over all parameters,
    ``g <- g * clip_norm / G`` if ``G > clip_norm``, else unchanged. ``last_norm`` is G of the
    last call (before clipping)."""

    name = "clip"

    def __init__(self, clip_norm: float = DEFAULT_CLIP_NORM) -> None:
        if (
            isinstance(clip_norm, bool)
            or not isinstance(clip_norm, numbers.Real)
            or not 0 < clip_norm < math.inf
        ):
            raise ValueError(f"clip: clip_norm must be positive and finite, got {clip_norm!r}")
        self.clip_norm = float(clip_norm)
        self.last_norm: float | None = None

    def hyper(self) -> dict:
        return {"clip_norm": self.clip_norm}

    def apply(self, model) -> None:
        grads = [g for _, g in model.parameters()]
        total = _norm(grads)  # G, the global norm
        self.last_norm = total
        if total > self.clip_norm:
            for g in grads:
                g[...] = rescale(g, total, self.clip_norm)


class FrozenBGN(GradMethod):
    """Every BGN layer's n_K frozen at its value at initialisation (eq. 5 with a constant n_K).

    ``prepare`` freezes each BGN layer so that its next backward - the first training step, at
    the initial weights - measures ``n_K = ||g|| / kappa`` (eq. 8) and keeps it; from then on
    the layer's backward is ``g / n_K`` with that constant. ``apply`` changes nothing (the work
    happens inside BGN's backward). ``n_K()`` lists the frozen values; checkpoints save them so
    that a resumed run keeps the constants of its own first batch.
    """

    name = "frozen_bgn"

    def _bgn_layers(self, model) -> list[BGN]:
        layers = [layer for layer in model.layers if isinstance(layer, BGN)]
        if not layers:
            raise ValueError("frozen_bgn: the model has no BGN layers (build it with bgn=True)")
        return layers

    def prepare(self, model) -> None:
        for layer in self._bgn_layers(model):
            layer.freeze_n_K()

    def n_K(self, model) -> list[float | None]:
        """The frozen n_K of every BGN layer, input side first (None: not measured yet)."""
        return [layer.fixed_n_K for layer in self._bgn_layers(model)]

    def state_dict(self, model) -> dict:
        return {**super().state_dict(model), "n_K": self.n_K(model)}

    def load_state_dict(self, model, state: dict) -> None:
        super().load_state_dict(model, state)
        layers, values = self._bgn_layers(model), state.get("n_K")
        if not isinstance(values, list) or len(values) != len(layers):
            raise StateError(
                f"frozen_bgn: the state has n_K {values!r}, expected {len(layers)} values"
            )
        for value in values:
            if value is not None and not (isinstance(value, numbers.Real) and 0 < value < math.inf):
                raise StateError(f"frozen_bgn: a frozen n_K must be positive, got {value!r}")
        for layer, value in zip(layers, values, strict=True):
            layer.freeze_n_K(value)


_METHODS = {"none": GradMethod, "block_normalized": BlockNormalized, "clip": Clip}
_METHODS["frozen_bgn"] = FrozenBGN


def make_grad_method(name: str, **kwargs) -> GradMethod:
    """Build a gradient method by name: ``"none"``, ``"block_normalized"``, ``"clip"``
    (keyword ``clip_norm``, default :data:`DEFAULT_CLIP_NORM`) or ``"frozen_bgn"``.
    Unknown names or keywords raise ValueError."""
    if name not in _METHODS:
        raise ValueError(
            f"make_grad_method: unknown gradient method {name!r}; choose one of {GRAD_METHODS}"
        )
    allowed = {"clip_norm"} if name == "clip" else set()
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(f"make_grad_method: {name!r} takes no {sorted(unknown)}")
    return _METHODS[name](**kwargs)


__all__ = [
    "DEFAULT_CLIP_NORM",
    "GRAD_METHODS",
    "BlockNormalized",
    "Clip",
    "FrozenBGN",
    "GradMethod",
    "make_grad_method",
]
