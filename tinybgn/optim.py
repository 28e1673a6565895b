"""Optimisers, written by hand: plain SGD (with optional momentum) and Adam.

An optimiser receives ``(param, grad)`` pairs (``model.parameters()``), owns its state (Adam's
moments) and updates each ``param`` in place in ``step()``. Layers *set* their gradients in
``backward``, so there is nothing to zero between steps.

When the pairs tile one contiguous buffer, as :class:`tinybgn.Sequential` packs them, the
update runs once on that buffer (a handful of vectorised NumPy calls per step, whatever the
depth); otherwise once per array. The arithmetic is the same either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _whole_buffer(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The 1-D buffer that ``arrays`` tile exactly, in order and without gaps; else None."""
    base = arrays[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    position = _address(base)
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or _address(a) != position:
            return None
        position += a.nbytes
    return base if position == _address(base) + base.nbytes else None


def _coalesce(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(flat_params, flat_grads)]`` if the pairs tile two flat buffers alike; else ``pairs``."""
    flat_p = _whole_buffer([p for p, _ in pairs])
    flat_g = _whole_buffer([g for _, g in pairs])
    if flat_p is None or flat_g is None or flat_p.shape != flat_g.shape:
        return pairs
    return [(flat_p, flat_g)]


class Optimizer:
    def __init__(self, params: Iterable[tuple[np.ndarray, np.ndarray]], lr: float) -> None:
        self.param_groups = list(params)
        if not self.param_groups:
            raise ValueError(f"{type(self).__name__}: no parameters to optimise")
        for p, g in self.param_groups:
            if p.shape != g.shape:
                raise ValueError(
                    f"{type(self).__name__}: param {p.shape} and grad {g.shape} differ"
                )
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr!r}")
        self.lr = float(lr)
        self.pairs = _coalesce(self.param_groups)

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """SGD: ``v = momentum * v + g;  theta -= lr * v`` (so v = g when momentum = 0)."""

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = float(momentum)
        self.velocity = [np.zeros_like(p) for p, _ in self.pairs]

    def step(self) -> None:
        for (theta, g), v in zip(self.pairs, self.velocity, strict=True):
            if self.momentum:
                v *= self.momentum
                v += g
                g = v
            theta -= self.lr * g


class Adam(Optimizer):
    """Adam, Kingma & Ba (2015), Algorithm 1. With g the gradient, per step::

        t = t + 1                                   (t counts from 1: incremented *before* use)
        m = beta1 m + (1 - beta1) g                 first moment
        v = beta2 v + (1 - beta2) g^2               second moment
        m_hat = m / (1 - beta1^t)                   bias corrections
        v_hat = v / (1 - beta2^t)
        theta = theta - lr m_hat / (sqrt(v_hat) + eps)

    ``eps`` defaults to 1e-7, Keras's value, which the paper used (PyTorch's is 1e-8). Keras adds
    eps to sqrt(v) *before* the bias correction (Kingma & Ba's "epsilon hat" form), which equals
    eps * sqrt(1 - beta2^t) here: slightly different in early steps. This class follows
    Algorithm 1, which is also what ``torch.optim.Adam`` computes. ``step`` evaluates the last
    three lines in the equivalent, cheaper order that Kingma & Ba give at the end of their
    section 2 (the bias corrections folded into two scalars), so one pass over the parameters
    is saved.

    eps matters for BGN: a weight whose gradients are far below eps barely moves, since
    m_hat / (sqrt(v_hat) + eps) ~ g / eps; BGN rescales deltas to norm kappa, which lifts them
    above eps.
    """

    def __init__(
        self, params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7
    ) -> None:
        super().__init__(params, lr)
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {beta1}, {beta2}")
        dtype = self.pairs[0][0].dtype
        if not eps > 0 or np.asarray(eps, dtype=dtype) == 0:
            raise ValueError(
                f"Adam: eps must be positive in {dtype} (got {eps!r}); with eps = 0 a weight whose "
                "gradient is exactly 0 gets 0/0 = NaN"
            )
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m = [np.zeros_like(p) for p, _ in self.pairs]
        self.v = [np.zeros_like(p) for p, _ in self.pairs]
        self._scratch = [np.empty_like(p) for p, _ in self.pairs]

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        bias1, bias2 = 1 - b1**self.t, 1 - b2**self.t
        # The last three lines of Algorithm 1 in Kingma & Ba's own cheaper order (their
        # section 2): theta -= alpha_t m / (sqrt(v) + eps_hat), alpha_t = lr sqrt(bias2) / bias1,
        # eps_hat = eps sqrt(bias2). Exactly the same update, one pass less over the parameters.
        alpha_t = self.lr * math.sqrt(bias2) / bias1
        eps_hat = self.eps * math.sqrt(bias2)
        for (theta, g), m, v, tmp in zip(self.pairs, self.m, self.v, self._scratch, strict=True):
            m *= b1  # m = beta1 m + (1 - beta1) g
            np.multiply(g, 1 - b1, out=tmp)
            m += tmp
            v *= b2  # v = beta2 v + (1 - beta2) g^2
            np.square(g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)  # sqrt(v_hat) + eps, times sqrt(bias2)
            tmp += eps_hat
            np.divide(m, tmp, out=tmp)  # theta -= lr * m_hat / (sqrt(v_hat) + eps)
            tmp *= alpha_t
            theta -= tmp

    def state_dict(self) -> dict:
        return {"t": self.t, "m": [a.copy() for a in self.m], "v": [a.copy() for a in self.v]}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for dst, src in zip(self.m + self.v, list(state["m"]) + list(state["v"]), strict=True):
            dst[...] = src
