"""Probes inside a network: gradient norms per layer (Figures 1-2), weight change (Figure 3).

For the K-th Dense layer ``z^(K) = W^(K) x^(K) + b^(K)`` the paper plots, on a log scale:

* ``||delta^(K)||`` with ``delta^(K) = dL/dz^(K)`` (eq. 6; eq. 7 with BGN): the gradient of the
  layer's weighted sum z, before the non-linearity - in a ``Dense -> [BN] -> [BGN] -> f`` block,
  what the Dense receives after BN's and BGN's backward;
* ``||grad_W L|| = ||delta^(K) x^(K)T||`` (eq. 1, eq. 10), the gradient of the weights.

Norms are Frobenius norms over the whole batch tensor, the norm BGN uses (eq. 5). With BGN and no
BN, every hidden ``delta`` has norm exactly kappa = sqrt(64) = 8 (eq. 7), whatever the depth.

``weight_change`` gives the mean absolute change of each Dense layer's weights between two
snapshots, ``mean_ij |W_after - W_before|`` (Figure 3).

**Mechanism quantities** (why does BGN help under Adam?), per Dense layer, for a runner to
record at the end of every epoch (:func:`epoch_quantities` measures all of them;
:class:`EpochMonitor` or :func:`training_monitor` call it from ``train(progress=...)``):

* ``update_size``: ``||W_now - W_prev|| / ||W_prev||``, the relative size of an epoch's update;
* ``sqrt_v_hat_median`` and ``frac_sqrt_v_hat_below_eps``: Adam's step is
  ``lr m_hat / (sqrt(v_hat) + eps)``; where ``sqrt(v_hat) << eps`` it shrinks to
  ``lr m_hat / eps`` (tiny gradients give tiny steps), where ``sqrt(v_hat) >> eps`` it is about
  ``lr`` whatever the gradient's scale - the regime in which a per-layer gradient scale such as
  BGN's should not matter;
* ``dead_relu``: the share of a ReLU layer's units that output 0 for every example of the probe
  batch (they pass no gradient back);
* ``delta``: ``||delta^(K)||`` on the probe batch (as in Figures 1-2);
* :func:`bgn_proportionality`: the cosine between BGN's delta and the plain delta of the same
  weights, which eq. 9 says is 1 (claim (i) of the paper).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from tinybgn.activations import Activation
from tinybgn.bgn import BGN
from tinybgn.dense import Dense
from tinybgn.errors import TinyBGNError
from tinybgn.graph import Model
from tinybgn.losses import softmax_cross_entropy
from tinybgn.sequential import Sequential
from tinybgn.trace import TraceStep


@contextmanager
def _buffers_restored(model: Sequential) -> Iterator[None]:
    """Run a probe, then put every layer's buffers (BatchNorm's running statistics) back."""
    saved = [{k: v.copy() for k, v in layer.buffers.items()} for layer in model.layers]
    try:
        yield
    finally:
        for layer, buffers in zip(model.layers, saved, strict=True):
            for k, v in buffers.items():
                layer.buffers[k][...] = v


def _traced_backward(model, x, y, record, *, training: bool = True) -> None:
    """One forward and backward pass of the mean softmax cross-entropy on ``(x, y)``, calling
    ``record(step)`` for every layer on the way back; the model's buffers are restored."""
    with _buffers_restored(model):
        logits = model.forward(x, training=training)
        _, dlogits = softmax_cross_entropy(logits, y)
        model.backward(dlogits, trace=record)


def gradient_norms(
    model: Sequential, x: np.ndarray, y: np.ndarray, *, training: bool = True
) -> dict[str, np.ndarray]:
    """||delta^(K)|| and ||grad_W L|| for every Dense layer K, from the input to the output.

    One forward and one backward pass of the mean softmax cross-entropy on the batch ``(x, y)``.
    ``training=True`` (default) uses batch statistics in BatchNorm, as during training; the
    running statistics are restored afterwards, so probing does not change the model. The
    model's ``grads`` are overwritten (as by any backward pass).

    Returns a dict of float64 arrays of length = number of Dense layers:
    ``"layer"`` (1 = first hidden, last = output layer), ``"index"`` (position in
    ``model.layers``), ``"delta"`` = ||dL/dz^(K)||, ``"weight"`` = ||dL/dW^(K)||.
    """
    found: dict[int, tuple[float, float]] = {}

    def record(step: TraceStep) -> None:
        if isinstance(step.layer, Dense):
            delta = float(np.linalg.norm(step.grad_in.astype(np.float64)))
            weight = float(np.linalg.norm(step.layer.grads["W"].astype(np.float64)))
            found[step.index] = (delta, weight)

    _traced_backward(model, x, y, record, training=training)
    index = np.array(sorted(found), dtype=np.int64)
    return {
        "layer": np.arange(1, len(index) + 1),
        "index": index,
        "delta": np.array([found[i][0] for i in index]),
        "weight": np.array([found[i][1] for i in index]),
    }


def dense_weights(model_or_state: Sequential | dict[str, np.ndarray]) -> list[np.ndarray]:
    """Copies of the weight matrices W of every Dense layer, input to output.

    Accepts a model or a ``state_dict()`` (where Dense weights are the keys ``"<index>.W"``).
    """
    if isinstance(model_or_state, Model):
        return [layer.W.copy() for layer in model_or_state.layers if isinstance(layer, Dense)]
    keys = sorted((k for k in model_or_state if k.endswith(".W")), key=lambda k: int(k[:-2]))
    return [np.array(model_or_state[k], copy=True) for k in keys]


def weight_change(
    before: Sequential | dict | list[np.ndarray], after: Sequential | dict | list[np.ndarray]
) -> np.ndarray:
    """Mean absolute weight change per Dense layer: ``mean_ij |W_after - W_before|`` (Fig. 3).

    ``before``/``after`` are models, state dicts or lists from :func:`dense_weights` (take a
    snapshot before training: ``w0 = dense_weights(model)``). Returns a float64 array, one
    entry per Dense layer, input to output.
    """
    w0 = before if isinstance(before, list) else dense_weights(before)
    w1 = after if isinstance(after, list) else dense_weights(after)
    if len(w0) != len(w1) or any(a.shape != b.shape for a, b in zip(w0, w1, strict=False)):
        raise ValueError("weight_change: the two snapshots have different architectures")
    return np.array(
        [np.mean(np.abs(b.astype(np.float64) - a)) for a, b in zip(w0, w1, strict=True)]
    )


def with_bgn(model: Sequential, kappa: float | None = None) -> Sequential:
    """A copy of ``model`` with a BGN layer just before every activation that lacks one.

    The forward pass is unchanged (BGN is the identity, eq. 4), so this measures how BGN would
    rescale the gradients of a network trained without it (Figure 2). ``model`` is not modified.
    Only for chains (:class:`Sequential`): in a graph "before every activation" is not one place.
    """
    _require_chain(model, "with_bgn")
    layers = []
    for layer in model.layers:
        if isinstance(layer, Activation) and not (layers and isinstance(layers[-1], BGN)):
            layers.append(BGN(kappa=kappa))
        layers.append(copy.deepcopy(layer))
    net = Sequential(layers)
    net.training = model.training
    return net


class ProbeError(TinyBGNError, ValueError):
    """A probe cannot measure what was asked (e.g. Adam's state of an optimizer without one)."""


def _require_chain(model, what: str) -> None:
    if not isinstance(model, Sequential):
        raise ProbeError(
            f"{what}: rebuilds the model as a chain of its layers, so it takes a Sequential; "
            f"got a {type(model).__name__} (a graph: build its variant with the builder instead)"
        )


def without_bgn(model: Sequential) -> Sequential:
    """A copy of ``model`` with every BGN layer removed (the forward pass is unchanged)."""
    _require_chain(model, "without_bgn")
    net = Sequential([copy.deepcopy(layer) for layer in model.layers if not isinstance(layer, BGN)])
    net.training = model.training
    return net


def dense_deltas(model: Sequential | Model, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """delta^(K) = dL/dz^(K) of every Dense layer (float64 copies), input to output, of a chain
    or a graph; BatchNorm running statistics are restored afterwards (as in
    :func:`gradient_norms`)."""
    found: dict[int, np.ndarray] = {}

    def record(step: TraceStep) -> None:
        if isinstance(step.layer, Dense):
            found[step.index] = step.grad_in.astype(np.float64)

    _traced_backward(model, x, y, record)
    return [found[i] for i in sorted(found)]


def bgn_proportionality(model: Sequential, x: np.ndarray, y: np.ndarray) -> dict[str, list]:
    """Eq. 9 measured: is BGN's delta a per-layer multiple of the plain delta?

    Compares the model with BGN (``model`` itself if it has BGN layers, else
    :func:`with_bgn` of it) with the same weights without BGN (:func:`without_bgn`), on the
    batch ``(x, y)``. Per Dense layer: ``cosine`` = <d_bgn, d_plain> / (||d_bgn|| ||d_plain||)
    (1 if proportional; None where a delta is exactly 0), ``scale`` = ||d_bgn|| / ||d_plain||
    (eq. 9's prod 1/n_j; None where d_plain = 0) and ``plain_subnormal``, the share of the
    plain delta's entries that are subnormal in the model's dtype (0 < |d| < finfo.tiny,
    1.2e-38 in float32). Eq. 9 holds in exact arithmetic; where the plain backprop has sunk
    into the subnormal range it has lost precision (and then underflows to 0), so its direction
    is no longer the exact one - the numerical trouble the paper expects from normalising
    *after* a vanishing backprop, which BGN avoids by normalising on the way.
    """
    has_bgn = any(isinstance(layer, BGN) for layer in model.layers)
    normalised = model if has_bgn else with_bgn(model)
    plain = without_bgn(model) if has_bgn else model
    tiny = float(np.finfo(model.dtype).tiny)
    cosine, scale, subnormal = [], [], []
    for a, b in zip(dense_deltas(normalised, x, y), dense_deltas(plain, x, y), strict=True):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        ok = na > 0 and nb > 0
        cosine.append(float(np.vdot(a, b) / (na * nb)) if ok else None)
        scale.append(float(na / nb) if nb > 0 else None)
        subnormal.append(float(np.mean((b != 0) & (np.abs(b) < tiny))))
    return {"cosine": cosine, "scale": scale, "plain_subnormal": subnormal}


def update_size(previous: list[np.ndarray], model: Sequential) -> np.ndarray:
    """``||W_now - W_prev|| / ||W_prev||`` per Dense layer (Frobenius norms, float64).

    ``previous`` is a :func:`dense_weights` snapshot taken earlier (e.g. at the last epoch's
    end). A layer whose previous weights are all 0 gets ``inf`` (or 0 if it did not move)."""
    now = dense_weights(model)
    if len(now) != len(previous):
        raise ValueError("update_size: the snapshot and the model have different architectures")
    out = []
    for w0, w1 in zip(previous, now, strict=True):
        change = np.linalg.norm(w1.astype(np.float64) - w0)
        base = np.linalg.norm(np.asarray(w0, dtype=np.float64))
        out.append(change / base if base > 0 else (np.inf if change > 0 else 0.0))
    return np.array(out)


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _adam_state(optimizer) -> tuple[int, list[np.ndarray], float, float]:
    """(t, v arrays aligned with ``optimizer.pairs``, beta2, eps) from Adam's public state.

    Reads ``state_dict()`` in either layout ({"t", "m", "v"} or {"step", "arrays": {"v"},
    "hyper"}), and beta2 / eps from the attributes (or the state's "hyper")."""
    if not callable(getattr(optimizer, "state_dict", None)):
        raise ProbeError(f"{type(optimizer).__name__} has no state_dict() to read Adam's v from")
    state = optimizer.state_dict()
    hyper = state.get("hyper") or {}
    t = state["t"] if "t" in state else state.get("step")
    v = state["v"] if "v" in state else (state.get("arrays") or {}).get("v")
    if t is None or v is None:
        raise ProbeError(f"{type(optimizer).__name__} has no Adam second moment v to read")
    beta2 = getattr(optimizer, "beta2", hyper.get("beta2"))
    eps = getattr(optimizer, "eps", hyper.get("eps"))
    return int(t), [np.asarray(a) for a in v], float(beta2), float(eps)


def adam_second_moment(optimizer, model: Sequential) -> dict[str, list[float]]:
    """Adam's sqrt(v_hat) for every Dense layer's W, against eps.

    ``v_hat = v / (1 - beta2^t)`` (Kingma & Ba's bias correction), read from the optimizer's
    ``state_dict()``; the optimizer may hold one flat buffer for the whole model (as for a
    :class:`Sequential`) or one array per parameter - W is located in it by its memory address.
    Returns ``sqrt_v_hat_median`` (median over the layer's weights),
    ``frac_sqrt_v_hat_below_eps`` (share of the weights with ``sqrt(v_hat) < eps``) and
    ``frac_v_hat_zero`` (share with v_hat exactly 0: weights that never had a gradient, e.g.
    the inputs of dead ReLU units - they are among those below eps), one entry per Dense layer,
    input to output. Before the first step (t = 0) all are None.
    """
    t, v, beta2, eps = _adam_state(optimizer)
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    if t == 0:
        return {"sqrt_v_hat_median": [None] * len(dense),
                "frac_sqrt_v_hat_below_eps": [None] * len(dense),
                "frac_v_hat_zero": [None] * len(dense)}  # fmt: skip
    bias2 = 1.0 - beta2**t
    medians, below, zero = [], [], []
    for layer in dense:
        w = layer.params["W"]
        for (theta, _), v_i in zip(optimizer.pairs, v, strict=True):
            offset = (_address(w) - _address(theta)) // w.itemsize
            if np.shares_memory(theta, w) and 0 <= offset <= theta.size - w.size:
                v_w = v_i.reshape(-1)[offset : offset + w.size]
                break
        else:
            raise ProbeError("adam_second_moment: the optimizer does not hold this model's W")
        root = np.sqrt(v_w.astype(np.float64) / bias2)
        medians.append(float(np.median(root)))
        below.append(float(np.mean(root < eps)))
        zero.append(float(np.mean(root == 0)))
    return {
        "sqrt_v_hat_median": medians,
        "frac_sqrt_v_hat_below_eps": below,
        "frac_v_hat_zero": zero,
    }


def dead_relu_fraction(model: Sequential, x: np.ndarray) -> list[float]:
    """Per ReLU layer: the share of its units whose output is 0 for every example of ``x``.

    Such a unit passes no gradient back for this batch (ReLU' = 0). The forward uses batch
    statistics in BatchNorm, as in training; the running statistics are restored afterwards.
    Returns one value per ReLU layer, input to output (empty for other activations)."""
    from tinybgn.activations import ReLU

    out = []
    with _buffers_restored(model):
        h = x
        for layer in model.layers:
            h = layer.forward(h, training=True)
            if isinstance(layer, ReLU):
                out.append(float(np.mean(np.all(h <= 0, axis=0))))
    return out


def epoch_quantities(
    model: Sequential, optimizer, x: np.ndarray, y: np.ndarray, previous: list[np.ndarray] | None
) -> dict:
    """All mechanism quantities now, as a JSON-able dict (non-finite values become None).

    ``update_size`` (against the :func:`dense_weights` snapshot ``previous``; None per layer
    without one) and ``delta`` (one value per Dense layer), ``dead_relu`` (per ReLU layer, if
    any) and, for Adam, ``sqrt_v_hat_median``, ``frac_sqrt_v_hat_below_eps`` and ``adam_eps``.
    """
    entry: dict = {}
    n_dense = sum(isinstance(layer, Dense) for layer in model.layers)
    entry["update_size"] = (
        [None] * n_dense if previous is None else _jsonable(update_size(previous, model))
    )
    entry["delta"] = _jsonable(gradient_norms(model, x, y)["delta"])
    dead = dead_relu_fraction(model, x)
    if dead:
        entry["dead_relu"] = dead
    try:
        entry.update(adam_second_moment(optimizer, model))
        entry["adam_eps"] = _adam_state(optimizer)[3]
    except ProbeError:
        pass  # not Adam: no second moment to report
    return entry


class EpochMonitor:
    """Records :func:`epoch_quantities` at the end of every epoch.

    Create it before training (it takes the first weight snapshot), call it from
    ``train(progress=...)``::

        monitor = EpochMonitor(model, optimizer, x_probe, y_probe)
        train(..., optimizer=optimizer, progress=monitor)
        record["monitor"] = monitor.history   # JSON-able: [{"epoch": 1, ...}, ...]
    """

    def __init__(self, model: Sequential, optimizer, x: np.ndarray, y: np.ndarray) -> None:
        self.model, self.optimizer, self.x, self.y = model, optimizer, x, y
        self.previous = dense_weights(model)
        self.history: list[dict] = []

    def __call__(self, epoch) -> dict:
        """Measure now; ``epoch`` is the epoch number or a record with an ``epoch`` field."""
        if not isinstance(epoch, int | np.integer):
            epoch = epoch["epoch"] if isinstance(epoch, dict) else epoch.epoch
        entry = {
            "epoch": int(epoch),
            **epoch_quantities(self.model, self.optimizer, self.x, self.y, self.previous),
        }
        self.previous = dense_weights(self.model)
        self.history.append(entry)
        return entry


#: Weight snapshots for :func:`training_monitor`, per model (forgotten with the model).
_SNAPSHOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def snapshot_weights(model: Sequential) -> None:
    """Remember ``model``'s weights now (call before training), for :func:`training_monitor`."""
    _SNAPSHOTS[model] = dense_weights(model)


def training_monitor(
    model: Sequential, optimizer, x: np.ndarray, y: np.ndarray, previous: dict | None
) -> dict:
    """:func:`epoch_quantities` for a runner that calls a function at every epoch end with
    the previous epoch's result (``previous``, None at the first call; unused otherwise).

    The update size needs the weights of the previous epoch end: they are kept per model
    (weakly). At the first call they exist only if :func:`snapshot_weights` was called before
    training; otherwise that epoch's ``update_size`` is None. :class:`EpochMonitor` does the
    same with no global state."""
    entry = epoch_quantities(model, optimizer, x, y, _SNAPSHOTS.get(model))
    _SNAPSHOTS[model] = dense_weights(model)
    return entry


def _jsonable(values) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


__all__ = [
    "EpochMonitor",
    "ProbeError",
    "epoch_quantities",
    "snapshot_weights",
    "training_monitor",
    "adam_second_moment",
    "bgn_proportionality",
    "dead_relu_fraction",
    "dense_deltas",
    "dense_weights",
    "gradient_norms",
    "update_size",
    "weight_change",
    "with_bgn",
    "without_bgn",
]
