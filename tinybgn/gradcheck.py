"""Check an analytic backward against central finite differences, in float64.

A layer's backward computes a *vector-Jacobian product*: given dy = dL/dy it returns
dx = J^T dy, never the full Jacobian J. So we check exactly that, for a random ``dy``, using
the scalar ``L(x) = sum(forward(x) * dy)``, whose gradient is J^T dy. A random ``dy`` matters:
with dy = 1 a BatchNorm that forgot a term, or a BGN that did nothing, could still pass.

Central differences ``(L(x + h e_i) - L(x - h e_i)) / 2h`` have truncation error O(h^2) and
rounding error O(eps |L| / h); with h = 1e-6 in float64 both are around 1e-10 relative for
well-scaled inputs, so a correct backward gives errors near 1e-9 and a wrong one near 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> float:
    """``||a - b|| / max(||a|| + ||b||, floor)``: 0 when equal, about 1 when unrelated.

    The ``floor`` (as in CS231n's ``rel_error``) keeps two arrays that are both zero up to
    rounding, such as the weight gradient for an all-zero input, from counting as unrelated.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor))


def rounding_floor(size: int, loss_scale: float, h: float = 1e-6) -> float:
    """Gradient norm below which central differences are dominated by their own rounding.

    Each numeric entry carries an absolute error of about eps_64 * S / h (S: the size of the
    terms summed into the loss, eps_64 = 2.2e-16), i.e. 2.2e-10 S for h = 1e-6, or
    2.2e-10 S sqrt(size) over the array. Using ``floor = 1e-3 sqrt(size) S`` in
    :func:`rel_error` accepts that (with a margin of ~4 at a 1e-6 tolerance) and nothing more:
    a wrong gradient is still off by O(1) of its own size.
    """
    return 1e-3 * np.sqrt(size) * max(1.0, loss_scale) * (1e-6 / h)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """dF/dx by central differences, where ``f()`` reads ``x`` (perturbed here and restored)."""
    grad = np.zeros(x.shape, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)  # views: writing flat_x writes x
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        f_plus = f()
        flat_x[i] = old - h
        f_minus = f()
        flat_x[i] = old
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


@dataclass
class GradcheckResult:
    """Relative error (see :func:`rel_error`) of each checked array, and the worst of them.

    ``analytic`` and ``numeric`` keep both gradients of every checked array (mine vs finite
    differences, for side-by-side failure messages) and ``floors`` the :func:`rounding_floor`
    used for each.
    """

    errors: dict[str, float] = field(default_factory=dict)
    analytic: dict[str, np.ndarray] = field(default_factory=dict)
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)

    @property
    def worst(self) -> float:
        return max(self.errors.values())

    def __str__(self) -> str:
        parts = ", ".join(f"{k}: {v:.2e}" for k, v in self.errors.items())
        return f"worst relative error {self.worst:.2e} ({parts})"


def gradcheck(
    layer,
    x: np.ndarray,
    dy: np.ndarray | None = None,
    *,
    h: float = 1e-6,
    seed: int = 0,
    training: bool = True,
) -> GradcheckResult:
    """Compare ``layer.backward`` with finite differences of ``sum(layer.forward(x) * dy)``.

    Checks the gradient of the input ``"x"`` and of every array in ``layer.params``; each error
    is :func:`rel_error` with the :func:`rounding_floor` of that array. ``x``,
    ``dy`` and the parameters should be float64; ``x`` is copied, never perturbed in place.
    Layers with running statistics (BatchNorm) update them during the extra forward passes;
    this does not affect training-mode outputs. Works for a whole :class:`tinybgn.Sequential`
    too (``layer.params`` is then taken from every layer).
    """
    x = np.array(x, dtype=np.float64)
    y = layer.forward(x, training)
    dy = np.random.default_rng(seed).standard_normal(y.shape) if dy is None else np.asarray(dy)

    analytic = {"x": layer.backward(dy).copy()}
    for name, _, g in _named_params(layer):
        analytic[name] = g.copy()

    def loss() -> float:
        return float(np.sum(layer.forward(x, training) * dy))

    scale = float(np.sum(np.abs(y * dy)))
    result = GradcheckResult(analytic=analytic)
    for name, array in [("x", x)] + [(n, p) for n, p, _ in _named_params(layer)]:
        numeric = numerical_gradient(loss, array, h)
        floor = rounding_floor(array.size, scale, h)
        result.errors[name] = rel_error(analytic[name], numeric, floor)
        result.numeric[name], result.floors[name] = numeric, floor
    return result


def _named_params(layer):
    if hasattr(layer, "named_parameters"):
        return layer.named_parameters()
    return [(k, layer.params[k], layer.grads[k]) for k in layer.params]
