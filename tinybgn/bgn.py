"""Backward Gradient Normalization, the layer the paper introduces (section 2.1)."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from tinybgn.layer import Layer


class BGN(Layer):
    """Identity on the forward pass; rescales the gradient to norm kappa on the backward pass.

    ::

        (4) BGN_f(x) = x
        (5) BGN_b(g) = kappa * g / ||g||        ||.|| = L2 norm over the whole batch tensor
        (8) n_K = ||g|| / kappa                 so BGN_b(g) = g / n_K

    ``kappa`` defaults to sqrt(d), d = the size of ``g`` without the batch axis (the paper's
    choice), so every normalised delta has norm sqrt(d) however deep the layer sits. After each
    backward the layer keeps ``g_norm`` = ||g|| and ``n_K`` for inspection (eq. 9 multiplies
    the 1/n_j of all BGN layers above a layer).

    ``scope="sample"`` is a variant, *not* the paper's method: each row (sample) is normalised
    on its own, as one public PyTorch implementation does; then ``g_norm`` and ``n_K`` have
    one entry per sample.

    A zero gradient is returned as zeros, not NaN. ``eps`` is the usual guard, dividing by
    max(||g||, eps); its default 0 guards only g = 0, so *every* non-zero gradient comes out
    with norm exactly kappa (up to rounding), however tiny or huge. The norm itself is computed
    without overflow or underflow for any finite ``g``.

    This backward is deliberately *not* the derivative of the forward (which would be the
    identity), so BGN is tested against eqs. (5) and (9), never by finite differences.

    **Frozen n_K** (:meth:`freeze_n_K`, used by the ``frozen_bgn`` gradient method; *not* the
    paper's method): eq. (5) written as eq. (8)'s ``BGN_b(g) = g / n_K`` with n_K a constant
    instead of ``||g|| / kappa`` of the current batch. By default the constant is measured by the
    next backward (so that step is exactly eq. 5) and kept from then on. ``g_norm`` is still the
    current ||g||; ``n_K`` is the constant actually applied. A frozen layer that receives g = 0
    before it has measured anything returns zeros and measures on a later step.
    """

    equation = "eq. (5): kappa g / ||g||"

    def __init__(self, kappa: float | None = None, eps: float = 0.0, scope: str = "batch") -> None:
        super().__init__()
        if scope not in ("batch", "sample"):
            raise ValueError(f"BGN: scope must be 'batch' (the paper) or 'sample', got {scope!r}")
        if kappa is not None and not kappa > 0:
            raise ValueError(f"BGN: kappa must be positive, got {kappa!r}")
        self.kappa, self.eps, self.scope = kappa, eps, scope
        self.g_norm = self.n_K = None
        self.frozen, self.fixed_n_K = False, None  # see freeze_n_K

    def __repr__(self) -> str:
        kappa = "sqrt(d)" if self.kappa is None else f"{self.kappa:g}"
        scope = "" if self.scope == "batch" else ", scope='sample'"
        return f"BGN(kappa={kappa}{scope})"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = self._check_input(x)
        self.y_shape = x.shape
        return x  # eq. (4)

    def backward(self, g: np.ndarray) -> np.ndarray:
        g = self._check_grad(g)
        d = g.size // len(g)  # dimension of g without the batch axis
        kappa = math.sqrt(d) if self.kappa is None else float(self.kappa)
        if self.scope == "sample":
            return self._backward_per_sample(g, kappa)
        if self.frozen:
            return self._backward_frozen(g, kappa)
        self.g_norm = l2_norm(g)
        self.n_K = self.g_norm / kappa  # eq. (8)
        norm = max(self.g_norm, self.eps)
        if norm == 0:  # g = 0: no direction to keep; return zeros, not 0/0 = NaN
            return np.zeros_like(g)
        return rescale(g, norm, kappa)  # eq. (5): kappa g / ||g||, safe from overflow

    def _backward_frozen(self, g: np.ndarray, kappa: float) -> np.ndarray:
        """The frozen variant (see the class docstring): ``g / n_K`` with a constant n_K."""
        self.g_norm = l2_norm(g)
        if self.fixed_n_K is None and self.g_norm > 0:
            self.fixed_n_K = self.g_norm / kappa  # eq. (8), measured once
        self.n_K = self.fixed_n_K
        if self.n_K is None:
            return np.zeros_like(g)
        return rescale(g, self.n_K, 1.0)  # eq. (5) with a constant n_K: g / n_K

    def freeze_n_K(self, n_K: float | None = None) -> None:
        """Fix this layer's n_K: to ``n_K`` if given, else to the value the next backward
        measures (eq. 8). Only for ``scope="batch"``. Undo with :meth:`unfreeze_n_K`."""
        if self.scope != "batch":
            raise ValueError("BGN.freeze_n_K: a frozen n_K needs scope='batch' (one n_K)")
        if n_K is not None and not (0 < n_K < math.inf):
            raise ValueError(f"BGN.freeze_n_K: n_K must be positive and finite, got {n_K!r}")
        self.frozen, self.fixed_n_K = True, None if n_K is None else float(n_K)

    def unfreeze_n_K(self) -> None:
        """Back to the paper's BGN: n_K = ||g|| / kappa of every batch."""
        self.frozen, self.fixed_n_K = False, None

    def _backward_per_sample(self, g: np.ndarray, kappa: float) -> np.ndarray:
        """The ``scope="sample"`` variant: eq. (5) applied to each row separately."""
        self.g_norm = row_norms(g)
        self.n_K = self.g_norm / kappa
        norms = np.maximum(self.g_norm, self.eps)[:, None]
        rows = g.reshape(len(g), -1).astype(np.float64)
        unit = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
        return (unit * kappa).reshape(g.shape).astype(g.dtype)

    def trace_note(self) -> str:
        if self.n_K is None:
            return ""
        if self.scope == "sample":
            return f"per-sample n_K in [{np.min(self.n_K):.4g}, {np.max(self.n_K):.4g}]"
        if self.frozen:
            return f"||g|| = {self.g_norm:.4g}, n_K frozen at {self.n_K:.4g}"
        return f"||g|| = {self.g_norm:.4g}, n_K = ||g||/kappa = {self.n_K:.4g}"


def rescale(g: np.ndarray, norm: float, target: float) -> np.ndarray:
    """``g * (target / norm)`` in g's dtype without overflow: zeros if ``norm`` is 0 (no
    direction to keep; not 0/0 = NaN), and ``(g / norm) * target`` if target / norm itself
    would overflow. With ``norm = ||g||`` the result has norm ``target`` (eq. 5)."""
    if norm == 0:
        return np.zeros_like(g)
    if norm < target / _limits(g.dtype).max:  # target/norm would overflow: divide first
        return (g / norm) * target
    return g * (target / norm)


def l2_norm(g: np.ndarray) -> float:
    """||g||_2 over all entries, as a Python float, safe from overflow and underflow.

    The fast path is one dot product. If the sum of squares left the safe range of g's dtype
    (it can underflow for tiny gradients or overflow for exploding ones), the entries are first
    divided by the largest |g|, as LAPACK's nrm2 does. (In the overflow case NumPy may warn
    "overflow encountered in dot" about the fast path; the returned norm is still right.)
    """
    flat = g.reshape(-1)
    sum_sq = float(np.dot(flat, flat))
    if flat.size * _limits(g.dtype).safe_mean_square <= sum_sq < math.inf:
        return math.sqrt(sum_sq)
    big = float(np.max(np.abs(flat)))
    if big == 0.0 or not np.isfinite(big):
        return big
    scaled = flat.astype(np.float64) / big
    return big * float(np.sqrt(np.dot(scaled, scaled)))


class _Limits(NamedTuple):
    max: float  # largest finite value of the dtype
    safe_mean_square: float  # tiny / eps: a mean square above this lost no precision


@functools.cache
def _limits(dtype: np.dtype) -> _Limits:
    """The float limits that ``l2_norm`` and ``BGN.backward`` need, computed once per dtype
    (``np.finfo`` is too slow to call twice per layer on every backward pass)."""
    info = np.finfo(dtype)
    return _Limits(float(info.max), float(info.tiny) / float(info.eps))


def row_norms(g: np.ndarray) -> np.ndarray:
    """||g_n||_2 of every row n (one per sample), in float64, safe from overflow and underflow."""
    rows = g.reshape(len(g), -1).astype(np.float64)
    big = np.max(np.abs(rows), axis=1)
    scaled = rows / np.where(big > 0, big, 1.0)[:, None]
    return big * np.sqrt(np.sum(scaled * scaled, axis=1))
