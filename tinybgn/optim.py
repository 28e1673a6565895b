"""Optimisers, written by hand: plain SGD (with optional momentum) and Adam.

An optimiser receives ``(param, grad)`` pairs (``model.parameters()``), owns its state (Adam's
moments, SGD's velocity) and updates each ``param`` in place in ``step()``. Layers *set* their
gradients in ``backward``, so there is nothing to zero between steps.

Every optimiser saves and restores its state: ``state_dict()`` returns ``{"kind", "hyper",
"step", "arrays"}`` (``kind`` is ``"adam"``, ``"sgd"`` or ``"momentum"``, ``hyper`` the
hyperparameters, ``arrays`` a dict of lists of arrays: Adam's ``m`` and ``v``, SGD+momentum's
``velocity``), and ``load_state_dict`` checks kind, hyperparameters, shapes and dtypes before it
copies anything, so a checkpoint never resumes with another optimiser's settings.
:func:`make_optimizer` builds one by name, for run specs and the command line.

Only float32 and float64 parameters are accepted. In float16 Adam's second moment
(1 - beta2) g^2 underflows (float16 has nothing below 6e-8) and its default eps 1e-7 is barely
representable, so float16 models diverge within a step or two; mixed precision is out of scope.

When the pairs tile one contiguous buffer, as :class:`tinybgn.Sequential` packs them, the
update runs once on that buffer (a handful of vectorised NumPy calls per step, whatever the
depth); otherwise once per array. The arithmetic is the same either way.

Subnormal numbers (nonzero, below the dtype's smallest normal number ``tiny``: 1.2e-38 in
float32) are set to 0 in the running averages, Adam's ``m`` and SGD's ``velocity``
(:func:`flush_subnormals`, every :data:`FLUSH_EVERY`-th step), much as a CPU in flush-to-zero
mode would. The reason is speed: x86 CPUs compute with subnormal operands 10-100x slower. A
ReLU unit that is dead gets a gradient of exactly 0, so its ``m`` decays by beta1 each step,
turns subnormal (785 steps from 0.01) and never reaches 0: round-to-nearest keeps
0.9 x (4 x 2^-149) at 4 x 2^-149 = 5.6e-45, so it stays subnormal for good. In a 90-layer
ReLU network with BGN trained 3000 steps on Fashion-MNIST, 73 % of ``m`` was subnormal and a
training step took 2.1x as long (``benchmarks/bench_engine.py --trained``). Dropping them cannot
change a step by more than ``flush_bound`` (below the rounding of any weight of normal size); Adam
flushes only when that bound is below :data:`FLUSH_BOUND`, so a tiny ``eps`` keeps Algorithm 1
exactly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from tinybgn.errors import ShapeError, StateError


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


#: Adam flushes subnormal entries of ``m`` only if that changes no step by more than this
#: (``Adam.flush_bound``):
#: half an ulp of a float32 weight of size 1e-12, so every weight with |theta| > 1e-12 gets the
#: step of Algorithm 1 (up to a last-bit rounding tie, whose chance is below the bound / ulp).
FLUSH_BOUND = 2.0**-24 * 1e-12

#: The flush runs every FLUSH_EVERY-th step: a value that turns subnormal is then one for at
#: most 7 steps instead of for good, for an eighth of the flush's cost (3 passes per step).
#: Adam's ``v`` is not flushed: with beta2 = 0.999 a dead unit's v needs tens of thousands of
#: steps to reach the subnormals (73 000 from v = 1e-6; a 20-epoch run on 55 000 images has
#: 34 000).
FLUSH_EVERY = 8


def flush_subnormals(a: np.ndarray, scratch: np.ndarray) -> None:
    """Set the entries of ``a`` with ``|a| < tiny`` (subnormal, or 0 already) to 0, in place.

    ``scratch`` (a's shape and dtype) is a work array. Multiplying by a 1/0 array is exact and
    3x faster than a masked assignment; NaN and inf stay as they are (NaN * 0 = NaN).
    """
    np.abs(a, out=scratch)
    np.greater_equal(scratch, np.finfo(a.dtype).tiny, out=scratch, casting="unsafe")  # 1 or 0
    a *= scratch


#: Parameter dtypes the optimisers accept (see the module docstring for float16).
SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Optimizer:
    """Base class: checks the ``(param, grad)`` pairs and ``lr``; saves and restores state.

    Subclasses set ``kind``, ``hyper()`` (the hyperparameters a resumed run must share) and
    ``_arrays()`` (the named lists of state arrays), and count steps in ``self.t``.
    """

    kind = ""

    def __init__(self, params: Iterable[tuple[np.ndarray, np.ndarray]], lr: float) -> None:
        self.param_groups = list(params)
        name = type(self).__name__
        if not self.param_groups:
            raise ValueError(f"{name}: no parameters to optimise")
        for p, g in self.param_groups:
            if p.shape != g.shape:
                raise ValueError(f"{name}: param {p.shape} and grad {g.shape} differ")
            if p.dtype not in SUPPORTED_DTYPES:
                raise TypeError(
                    f"{name}: parameters of dtype {p.dtype} are not supported (only float32 and "
                    "float64: in float16 Adam's g^2 underflows and training diverges at once)"
                )
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
            raise ValueError(f"{name}: lr must be positive, got {lr!r}")
        if not math.isfinite(lr):
            raise ValueError(f"{name}: lr must be finite, got {lr!r}")
        self.lr = float(lr)
        self.t = 0  # steps taken
        self.pairs = _coalesce(self.param_groups)

    def step(self) -> None:
        raise NotImplementedError

    def hyper(self) -> dict:
        return {"lr": self.lr}

    def _arrays(self) -> dict[str, list[np.ndarray]]:
        return {}

    def state_dict(self) -> dict:
        """``{"kind", "hyper", "step", "arrays"}``: copies, safe to keep while training goes on."""
        return {
            "kind": self.kind,
            "hyper": self.hyper(),
            "step": self.t,
            "arrays": {k: [a.copy() for a in v] for k, v in self._arrays().items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict()``. Raises StateError if it was written by another kind of
        optimiser or with other hyperparameters, ShapeError if its arrays do not fit; nothing
        is changed unless everything fits."""
        name = type(self).__name__
        if state.get("kind") != self.kind:
            raise StateError(
                f"{name}: the state is for a {state.get('kind')!r} optimiser, not {self.kind!r}"
            )
        if state.get("hyper") != self.hyper():
            raise StateError(
                f"{name}: the state was saved with {state.get('hyper')}, this "
                f"optimiser has {self.hyper()}"
            )
        step = state.get("step")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise StateError(
                f"{name}: the state's step count must be an integer >= 0, got {step!r}"
            )
        mine, theirs = self._arrays(), state.get("arrays")
        if not isinstance(theirs, dict) or set(theirs) != set(mine):
            found = sorted(theirs) if isinstance(theirs, dict) else theirs
            raise StateError(f"{name}: the state holds arrays {found!r}, expected {sorted(mine)}")
        for key, dsts in mine.items():
            srcs = list(theirs[key])
            if len(srcs) != len(dsts):
                raise ShapeError(
                    f"{name}: the state has {len(srcs)} {key!r} arrays, expected {len(dsts)}"
                )
            for i, (dst, src) in enumerate(zip(dsts, srcs, strict=True)):
                src = np.asarray(src)
                if src.shape != dst.shape or src.dtype != dst.dtype:
                    raise ShapeError(
                        f"{name}: {key}[{i}] in the state is {src.dtype}{list(src.shape)}, "
                        f"expected {dst.dtype}{list(dst.shape)}"
                    )
        for key, dsts in mine.items():
            for dst, src in zip(dsts, theirs[key], strict=True):
                dst[...] = src
        self.t = int(step)


class SGD(Optimizer):
    """SGD: ``v = momentum * v + g;  theta -= lr * v`` (so v = g when momentum = 0).

    ``kind`` is ``"sgd"`` for momentum = 0 and ``"momentum"`` otherwise (heavy-ball momentum,
    in the form PyTorch and Keras use with the learning rate outside the velocity).
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        if (
            isinstance(momentum, bool)
            or not isinstance(momentum, numbers.Real)
            or not (0 <= momentum < 1)
        ):
            raise ValueError(f"SGD: momentum must lie in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.kind = "momentum" if self.momentum else "sgd"
        self.velocity = [np.zeros_like(p) for p, _ in self.pairs] if self.momentum else []
        # Work arrays for flush_subnormals (the velocity of a zero gradient decays into the
        # subnormals and stays there, as Adam's m does; flushing them changes v by less than
        # tiny / (1 - momentum), a step by less than lr tiny / (1 - momentum): nothing).
        self._scratch = [np.empty_like(v) for v in self.velocity]

    def hyper(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum}

    def _arrays(self) -> dict[str, list[np.ndarray]]:
        return {"velocity": self.velocity} if self.momentum else {}

    def step(self) -> None:
        self.t += 1
        if not self.momentum:
            for theta, g in self.pairs:
                theta -= self.lr * g
            return
        for (theta, g), v, tmp in zip(self.pairs, self.velocity, self._scratch, strict=True):
            v *= self.momentum
            v += g
            if self.t % FLUSH_EVERY == 0:
                flush_subnormals(v, tmp)
            np.multiply(v, self.lr, out=tmp)
            theta -= tmp


class Adam(Optimizer):
    """Adam, Kingma & Ba (2015), Algorithm 1. With g the gradient, per step::

        t = t + 1                                   (t counts from 1: incremented *before* use)
        m = beta1 m + (1 - beta1) g                 first moment
        v = beta2 v + (1 - beta2) g^2               second moment
        m_hat = m / (1 - beta1^t)                   bias corrections
        v_hat = v / (1 - beta2^t)
        theta = theta - lr m_hat / (sqrt(v_hat) + eps)

    ``eps`` defaults to 1e-7, Keras's value, an assumption: the paper states none (PyTorch's is
    1e-8). Keras adds
    eps to sqrt(v) *before* the bias correction (Kingma & Ba's "epsilon hat" form), which equals
    eps * sqrt(1 - beta2^t) here: slightly different in early steps. This class follows
    Algorithm 1, which is also what ``torch.optim.Adam`` computes. ``step`` evaluates the last
    three lines in the equivalent, cheaper order that Kingma & Ba give at the end of their
    section 2 (the bias corrections folded into two scalars), so one pass over the parameters
    is saved.

    eps matters for BGN: a weight whose gradients are far below eps barely moves, since
    m_hat / (sqrt(v_hat) + eps) ~ g / eps; BGN rescales deltas to norm kappa, which lifts them
    above eps.

    The cheaper order uses eps_hat = eps sqrt(1 - beta2^t), which for a tiny eps can underflow
    to 0 in the parameters' dtype (eps = 1e-44 in float32 gives eps_hat = 0 at step 1, so a
    weight with zero gradient gets 0/0 = NaN). Then ``step`` evaluates Algorithm 1 in its
    written order instead, where eps itself is added (and eps > 0 in the dtype is checked).

    Subnormal entries of ``m`` are set to 0 after its update, every FLUSH_EVERY-th step (see
    the module docstring: they make the arithmetic slow, not the result different).
    ``flush_bound`` is the most that can change a step. In exact arithmetic each flushed amount
    is below tiny and then decays by beta1, so m differs from Algorithm 1's by less than
    tiny / (1 - beta1); a step is lr m_hat / (sqrt(v_hat) + eps) with
    m_hat = m / (1 - beta1^t) and 1 - beta1^t >= 1 - beta1, so it changes by less than
    lr tiny / ((1 - beta1)^2 eps): 1.2e-31 for lr = 1e-2, eps = 1e-7 in float32. The flush is
    done only while ``flush_bound <= FLUSH_BOUND``; with a tiny eps (1e-30, say) m / eps is not
    negligible, and m is left exactly as Algorithm 1 has it.
    """

    kind = "adam"

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
        self.dtype = dtype
        self._tiny = float(np.finfo(dtype).tiny)  # smallest normal number of the dtype
        self.m = [np.zeros_like(p) for p, _ in self.pairs]
        self.v = [np.zeros_like(p) for p, _ in self.pairs]
        self._scratch = [np.empty_like(p) for p, _ in self.pairs]

    @property
    def flush_bound(self) -> float:
        """The most by which flushing m's subnormals can change a step (see the class docstring):
        lr tiny / ((1 - beta1)^2 eps)."""
        return self.lr * self._tiny / ((1 - self.beta1) ** 2 * self.eps)

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        bias1, bias2 = 1 - b1**self.t, 1 - b2**self.t
        # The last three lines of Algorithm 1 in Kingma & Ba's own cheaper order (their
        # section 2): theta -= alpha_t m / (sqrt(v) + eps_hat), alpha_t = lr sqrt(bias2) / bias1,
        # eps_hat = eps sqrt(bias2). Exactly the same update, one pass less over the parameters.
        alpha_t = self.lr * math.sqrt(bias2) / bias1
        eps_hat = self.eps * math.sqrt(bias2)
        folded = eps_hat >= self._tiny  # else eps_hat would underflow in the dtype: see above
        flush = self.t % FLUSH_EVERY == 0 and self.flush_bound <= FLUSH_BOUND
        for (theta, g), m, v, tmp in zip(self.pairs, self.m, self.v, self._scratch, strict=True):
            m *= b1  # m = beta1 m + (1 - beta1) g
            np.multiply(g, 1 - b1, out=tmp)
            m += tmp
            if flush:  # no subnormals: speed only, see flush_bound
                flush_subnormals(m, tmp)
            v *= b2  # v = beta2 v + (1 - beta2) g^2
            np.square(g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            if folded:  # sqrt(v_hat) + eps, times sqrt(bias2)
                tmp += eps_hat
                np.divide(m, tmp, out=tmp)  # theta -= lr * m_hat / (sqrt(v_hat) + eps)
                tmp *= alpha_t
            else:  # Algorithm 1 as written: m_hat / (sqrt(v_hat) + eps)
                tmp /= math.sqrt(bias2)
                tmp += self.eps
                np.divide(m, tmp, out=tmp)
                tmp *= self.lr / bias1
            theta -= tmp

    def hyper(self) -> dict:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _arrays(self) -> dict[str, list[np.ndarray]]:
        return {"m": self.m, "v": self.v}


#: Names accepted by :func:`make_optimizer`.
OPTIMIZERS = ("adam", "sgd", "momentum")

#: Momentum of ``make_optimizer("momentum", ...)`` when none is given: the usual 0.9 (an
#: assumption; the paper trains with Adam only).
DEFAULT_MOMENTUM = 0.9


def make_optimizer(name: str, params, lr: float, **kwargs) -> Optimizer:
    """Build an optimiser by name, for run specs and the command line.

    * ``"adam"``: :class:`Adam` (keyword arguments ``beta1``, ``beta2``, ``eps``; defaults are
      Keras's, eps = 1e-7 - an assumption, the paper states none);
    * ``"sgd"``: plain :class:`SGD` (no keyword arguments; ``momentum=0`` is accepted);
    * ``"momentum"``: :class:`SGD` with ``momentum`` (default :data:`DEFAULT_MOMENTUM`, must be
      > 0).

    ``params`` are ``model.parameters()``. Unknown names or keywords raise ValueError.
    """
    if name == "adam":
        allowed = {"beta1", "beta2", "eps"}
    elif name in ("sgd", "momentum"):
        allowed = {"momentum"}
    else:
        raise ValueError(f"make_optimizer: unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(
            f"make_optimizer: {name!r} takes no {sorted(unknown)} (it takes {sorted(allowed)})"
        )
    if name == "adam":
        return Adam(params, lr=lr, **kwargs)
    momentum = kwargs.get("momentum", DEFAULT_MOMENTUM if name == "momentum" else 0.0)
    if name == "sgd" and momentum != 0:
        raise ValueError(
            f"make_optimizer: 'sgd' is plain SGD; for momentum {momentum} use 'momentum'"
        )
    if name == "momentum" and not momentum > 0:
        raise ValueError(f"make_optimizer: 'momentum' needs momentum > 0, got {momentum!r}")
    return SGD(params, lr=lr, momentum=momentum)
