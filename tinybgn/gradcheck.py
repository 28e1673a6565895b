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


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / max(||a|| + ||b||, 1e-300)``: 0 when equal, 1 when unrelated or opposite."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


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
    """Relative error (see :func:`rel_error`) of each checked array, and the worst of them."""

    errors: dict[str, float] = field(default_factory=dict)

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

    Checks the gradient of the input ``"x"`` and of every array in ``layer.params``. ``x``,
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

    result = GradcheckResult()
    result.errors["x"] = rel_error(analytic["x"], numerical_gradient(loss, x, h))
    for name, p, _ in _named_params(layer):
        result.errors[name] = rel_error(analytic[name], numerical_gradient(loss, p, h))
    return result


def _named_params(layer):
    if hasattr(layer, "named_parameters"):
        return layer.named_parameters()
    return [(k, layer.params[k], layer.grads[k]) for k in layer.params]
