"""Training a network: the mini-batch loop, evaluation, history, checkpoints and divergence.

One epoch of mini-batch training, as in section 4 of the paper (Adam, softmax cross-entropy)::

    for each batch (x_b, y_b) of a fresh shuffle of the training set:
        logits = model.forward(x_b)                      forward pass, eqs. (4) and z = W x + b
        L, dL/dlogits = softmax_cross_entropy(logits, y_b)
        model.backward(dL/dlogits)                       eqs. (1)-(3), (5)-(8)
        grad_method.apply(model)                         usually nothing; see tinybgn.grad_methods
        optimizer.step()                                 Adam, Kingma & Ba Algorithm 1

After every epoch the model is evaluated on the test set (in evaluation mode, so BatchNorm uses
its running statistics), and one row is added to the :class:`History`. The final accuracy is the
one after the last epoch: no epoch is picked by looking at the test set.

**Batch size.** The paper does not state it. We default to 32, the default of Keras's
``Model.fit``, which we *assume* the paper used (with Keras's Adam eps = 1e-7 and BatchNorm
momentum 0.99): a paper that does not mention the batch size most likely kept the default. It is
an option everywhere (``batch_size=``, ``--batch-size``).

**Divergence.** Training stops and the history records ``diverged`` (a dict with ``epoch``,
``step``, ``error``, ``stage``, ``layer_index``, ``layer``) when

* a loss, logit or parameter becomes NaN or Inf (``stage`` and ``layer`` then say where the
  non-finite values started, see :func:`locate_nonfinite`), or
* the rule of :data:`DIVERGENCE_GROWTH`: after an epoch, the train or test loss exceeds
  1000 times the reference ``max(L_0, ln K)``, where L_0 is the loss of the very first batch at
  the initial weights and ln K that of a uniform guess over K classes (``stage="loss"``; that
  epoch's record is kept in the history, the checkpoint keeps the epoch before). A run whose
  test loss climbs from 2.3 to 7e8 has blown up even if every number is still finite.

``train`` returns normally: a diverged run is a result, not a crash, so it never takes a sweep
down. Bad *input* is not divergence: NaN/Inf in ``x_train``/``x_test``, empty sets or a batch of
one for BatchNorm raise at once, before any training.

**Checkpoints** (``checkpoint=path``) are written after every epoch, atomically (see
:mod:`tinybgn.files`), with the model, the optimiser's kind and state (SGD, momentum, Adam), the
gradient method's state, the history and the run's *settings* (batch size, seed, optimiser and
its hyperparameters, gradient method, model and data fingerprints, see :func:`run_settings`).
``train(..., resume=True)`` continues from the epoch after the last saved one - and refuses
(:class:`ResumeError`) if this call's settings differ from the checkpoint's, instead of
silently training on with others. The batch order of epoch ``e`` is drawn from
``default_rng([seed, e])``, so a resumed run sees the same batches as an uninterrupted one and
ends with bit-identical weights (with the same BLAS thread count, which the history records as
``meta["blas_threads"]``). A damaged or foreign file raises :class:`CheckpointError`.

A run that diverges leaves ``<checkpoint>.diverged.json`` beside its (last good) checkpoint,
holding the run's id, settings and history. Resuming *that* run returns the recorded history
instead of training again (the same seed would diverge again); a marker left by any other run
is stale and is removed.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinybgn import blas
from tinybgn.batchnorm import BatchNorm
from tinybgn.data.batches import batches
from tinybgn.errors import NonFiniteError, ShapeError, StateError, TinyBGNError
from tinybgn.files import atomic_write, atomic_write_text
from tinybgn.grad_methods import GradMethod, make_grad_method
from tinybgn.losses import softmax_cross_entropy
from tinybgn.optim import Adam, Optimizer
from tinybgn.sequential import Sequential

#: Default mini-batch size: Keras ``Model.fit``'s default (the paper does not state one).
DEFAULT_BATCH_SIZE = 32

#: Defaults of ``train``'s own Adam: Keras's (an assumption; the paper states none).
DEFAULT_LR, DEFAULT_EPS = 1e-3, 1e-7

#: A loss above DIVERGENCE_GROWTH * max(L_0, ln K) counts as divergence (see the module doc).
DIVERGENCE_GROWTH = 1e3

#: Identifies the checkpoint layout; bumped when it changes.
CHECKPOINT_FORMAT, CHECKPOINT_VERSION = "tinybgn-checkpoint", 2


class CheckpointError(TinyBGNError, ValueError):
    """A checkpoint file is damaged, not a tinybgn checkpoint, or does not fit the model."""


class ResumeError(CheckpointError):
    """``resume=True`` with settings that differ from those the checkpoint was written with."""


class OutputError(TinyBGNError, OSError):
    """An output file (checkpoint, history) cannot be written."""


@dataclass
class EpochRecord:
    """One row of a :class:`History`: the state of training after ``epoch`` epochs."""

    epoch: int
    train_loss: float  # mean of the batch losses during the epoch
    test_loss: float
    test_accuracy: float
    top_class_fraction: float  # share of test predictions that fall in the most-predicted class
    seconds: float  # wall time of the epoch's training steps (evaluation excluded)


@dataclass
class History:
    """Everything a training run reports. JSON-serialisable via :meth:`to_dict`.

    ``diverged`` is None, or a dict with ``epoch``, ``step``, ``error`` and the location found by
    :func:`locate_nonfinite` (``stage``, ``layer_index``, ``layer``). ``meta`` holds
    ``blas_threads`` (the OpenBLAS thread count during training, None if unknown),
    ``initial_loss`` (L_0, the first batch's loss) and ``classes`` (K, the number of logits),
    which the divergence rule uses.
    """

    epochs: list[EpochRecord] = field(default_factory=list)
    diverged: dict | None = None
    meta: dict = field(default_factory=dict)

    @property
    def final(self) -> EpochRecord | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def train_seconds(self) -> float:
        return float(sum(e.seconds for e in self.epochs))

    def to_dict(self) -> dict:
        return {
            "epochs": [asdict(e) for e in self.epochs],
            "diverged": self.diverged,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls([EpochRecord(**e) for e in d["epochs"]], d.get("diverged"), d.get("meta", {}))


def evaluate(
    model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = 1000
) -> dict[str, float]:
    """Loss, accuracy and most-predicted-class share of ``model`` on ``(x, y)``, in eval mode.

    ``top_class_fraction`` = max_k #{n : argmax logits_n = k} / N. A value near 1 means the
    network predicts one class for everything; its accuracy is then the share of that class in
    ``y`` (0.1135 for MNIST's test set, the 0.114 that fills the paper's Table 1).
    Raises NonFiniteError if the logits are not finite.
    """
    if len(x) == 0 or len(x) != len(y):
        raise ShapeError(
            f"evaluate: need a non-empty set with one label per example, got "
            f"{len(x)} examples and {len(y)} labels"
        )
    was_training = model.training
    model.eval()
    try:
        loss_sum, predictions = 0.0, []
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            logits = model.forward(xb, training=False)
            loss, _ = softmax_cross_entropy(logits, yb)
            loss_sum += loss * len(xb)
            predictions.append(np.argmax(logits, axis=1))
    finally:
        model.training = was_training
    pred = np.concatenate(predictions)
    counts = np.bincount(pred, minlength=1)
    return {
        "loss": loss_sum / len(x),
        "accuracy": float(np.mean(pred == y)),
        "top_class_fraction": float(counts.max() / len(pred)),
    }


def locate_nonfinite(model: Sequential, x: np.ndarray | None = None) -> dict:
    """Where NaN/Inf first appear in ``model``: its parameters, else its forward pass on ``x``.

    * ``stage="parameters"``: some parameters are non-finite. Backward runs from the output
      down and a NaN spreads to every layer below the one that produced it, so the origin is
      the non-finite layer *closest to the output*; that one is reported.
    * ``stage="forward"``: all parameters are finite, but running ``x`` layer by layer (in
      training mode, BatchNorm statistics restored afterwards) gives a non-finite output; the
      first such layer (from the input) is reported - typically activations that grew past the
      float32 range (3.4e38) in an exploding network.
    * ``stage="unknown"``: nothing non-finite found (e.g. only the loss overflowed).
    """
    bad = [
        i
        for i, layer in enumerate(model.layers)
        if any(not np.isfinite(p).all() for p in layer.params.values())
    ]
    if bad:
        i = max(bad)
        return {"stage": "parameters", "layer_index": i, "layer": repr(model.layers[i])}
    if x is not None:
        saved = [{k: v.copy() for k, v in layer.buffers.items()} for layer in model.layers]
        try:
            h = np.asarray(x, dtype=model.dtype)
            with np.errstate(all="ignore"):
                for i, layer in enumerate(model.layers):
                    h = layer.forward(h, True)
                    if not np.isfinite(h).all():
                        return {"stage": "forward", "layer_index": i, "layer": repr(layer)}
        finally:
            for layer, buffers in zip(model.layers, saved, strict=True):
                for k, v in buffers.items():
                    layer.buffers[k][...] = v
    return {"stage": "unknown", "layer_index": None, "layer": None}


# -- settings and outputs ------------------------------------------------------------------------
def _fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.data)
    return digest.hexdigest()


def run_settings(
    model: Sequential,
    optimizer: Optimizer,
    grad_method: GradMethod,
    data: tuple[np.ndarray, ...],
    *,
    batch_size: int,
    seed: int,
) -> dict:
    """What makes a training run *this* run (JSON-able), compared when a run resumes:
    ``batch_size``, ``seed``, ``optimizer`` (kind and hyperparameters), ``grad_method`` (name and
    hyperparameters), ``model`` (number of layers and parameters, dtype, and a hash of the
    layers' reprs) and ``data`` (sizes and a hash of the four arrays). ``epochs`` is not among
    them: resuming with more epochs extends a run."""
    layers = "\n".join(repr(layer) for layer in model.layers)
    return {
        "batch_size": batch_size,
        "seed": seed,
        "optimizer": {"kind": optimizer.kind, **optimizer.hyper()},
        "grad_method": {"name": grad_method.name, **grad_method.hyper()},
        "model": {
            "layers": len(model.layers),
            "parameters": int(sum(p.size for p, _ in model.parameters())),
            "dtype": str(np.dtype(model.dtype)),
            "hash": hashlib.blake2b(layers.encode(), digest_size=12).hexdigest(),
        },
        "data": {
            "n_train": len(data[0]),
            "n_test": len(data[2]),
            "hash": _fingerprint(*data),
        },
    }


def settings_conflicts(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """``["seed: 0 in the checkpoint, 7 now", ...]`` for every (nested) key that differs."""
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += settings_conflicts(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the checkpoint, {b!r} now")
    return out


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Raise :class:`OutputError` unless ``path`` can be written (its folder exists and accepts
    files, and it is not a folder itself), so a run fails *before* training, not after it."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"the {what} path {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write the {what} {path}: folder {path.parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=path.parent, prefix=path.name + ".", suffix=".probe"):
            pass
    except OSError as err:
        raise OutputError(f"cannot write the {what} {path}: {err.strerror or err}") from err
    return path


# -- checkpoints ---------------------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike,
    model: Sequential,
    optimizer: Optimizer,
    history: History,
    meta: dict,
    *,
    grad_method: GradMethod | None = None,
) -> Path:
    """Write model state, optimiser state, gradient-method state and history to ``path`` (an
    ``.npz``), atomically (temporary file + ``os.replace``, mode 0666 minus the umask).

    Arrays: ``model/<key>`` (``model.state_dict()``) and ``optimizer/<name>/<i>`` (the
    optimiser's state arrays); ``info`` is UTF-8 JSON with ``format``, ``version``,
    ``optimizer`` (kind, hyper, step, number of arrays per name), ``grad_method``, ``history``
    and ``meta`` (JSON-able, stored as given).
    """
    path = Path(path)
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for name, values in opt["arrays"].items():
        arrays.update({f"optimizer/{name}/{i}": a for i, a in enumerate(values)})
    grad_method = grad_method or GradMethod()
    info = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "optimizer": {
            "kind": opt["kind"],
            "hyper": opt["hyper"],
            "step": opt["step"],
            "arrays": {name: len(values) for name, values in opt["arrays"].items()},
        },
        "grad_method": grad_method.state_dict(model),
        "history": history.to_dict(),
        "meta": meta,
    }
    arrays["info"] = np.frombuffer(json.dumps(info).encode(), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def _read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """``(info, arrays)`` of a checkpoint, its layout checked; CheckpointError otherwise."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise CheckpointError(f"{path} is a single .npy array, not a tinybgn checkpoint")
            arrays = {k: z[k] for k in z.files}
    except CheckpointError:
        raise
    except FileNotFoundError as err:
        raise CheckpointError(f"checkpoint {path} does not exist") from err
    except Exception as err:  # BadZipFile, EOFError, zlib.error, ValueError...: all damage
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(err).__name__}: {err}"
        ) from err
    raw = arrays.pop("info", None)
    if raw is None:
        raise CheckpointError(f"{path} is not a tinybgn checkpoint (no 'info')")
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"'info' is {raw.dtype}{list(raw.shape)}, not uint8 bytes")
        info = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(info, dict):
            raise ValueError("'info' is not a JSON object")
    except ValueError as err:  # includes JSONDecodeError and UnicodeDecodeError
        raise CheckpointError(f"checkpoint {path} has a damaged 'info': {err}") from err
    if info.get("format") != CHECKPOINT_FORMAT or info.get("version") != CHECKPOINT_VERSION:
        found = info.get("format"), info.get("version")
        raise CheckpointError(
            f"{path} is not a {CHECKPOINT_FORMAT} version {CHECKPOINT_VERSION} file (found "
            f"{found}); checkpoints written by older tinybgn versions cannot be resumed"
        )
    kinds = {"optimizer": dict, "grad_method": dict, "history": dict, "meta": dict}
    for key, kind in kinds.items():
        if not isinstance(info.get(key), kind):
            raise CheckpointError(f"checkpoint {path}: 'info' lacks a valid {key!r}")
    return info, arrays


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The ``meta`` a checkpoint was saved with (e.g. a command line's settings), checked like
    :func:`load_checkpoint` checks the whole file's layout."""
    return _read_checkpoint(path)[0]["meta"]


def load_checkpoint(
    path: str | os.PathLike,
    model: Sequential,
    optimizer: Optimizer | None = None,
    *,
    grad_method: GradMethod | None = None,
    settings: dict | None = None,
) -> tuple[History, dict]:
    """Restore ``model`` (and ``optimizer``, ``grad_method``) from ``save_checkpoint``'s file.

    Returns ``(history, meta)``. Every name, shape and dtype is checked, and every array must be
    finite, before anything is copied into the model (so an optimiser moment of shape (1,) is an
    error, not broadcast over the model). With ``settings`` (see :func:`run_settings`), they
    must equal ``meta["settings"]`` or :class:`ResumeError` is raised. Any other problem -
    unreadable, truncated, not a zip, bad JSON, missing or unexpected arrays, wrong shapes or
    dtypes, another kind of optimiser - raises :class:`CheckpointError`.
    """
    info, arrays = _read_checkpoint(path)
    meta = info["meta"]
    if settings is not None:
        conflicts = settings_conflicts(meta.get("settings") or {}, settings)
        if conflicts:
            raise ResumeError(
                f"cannot resume {path}: it was written with other settings ("
                + "; ".join(conflicts)
                + "). Use the checkpoint's settings, or a new checkpoint path."
            )
    try:
        history = History.from_dict(info["history"])
    except (KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f"checkpoint {path} has a damaged history: {err!r}") from err

    expected = model.state_dict()
    state = {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")}
    opt_info = info["optimizer"]
    opt_names = set()
    counts = opt_info.get("arrays")
    if not isinstance(counts, dict) or not all(
        isinstance(n, int) and n >= 0 for n in counts.values()
    ):
        raise CheckpointError(f"checkpoint {path}: damaged optimizer entry {opt_info!r}")
    for name, n in counts.items():
        opt_names |= {f"optimizer/{name}/{i}" for i in range(n)}
    missing = sorted(set(f"model/{k}" for k in expected) - set(arrays)) + sorted(
        opt_names - set(arrays)
    )
    extra = sorted(set(arrays) - {f"model/{k}" for k in expected} - opt_names)
    if missing or extra:
        raise CheckpointError(
            f"checkpoint {path} does not fit this model: missing arrays {missing[:5]}, "
            f"unexpected arrays {extra[:5]}"
        )
    for key, mine in expected.items():
        theirs = state[key]
        if theirs.shape != mine.shape or theirs.dtype != mine.dtype:
            raise CheckpointError(
                f"checkpoint {path}: model/{key} is {theirs.dtype}{list(theirs.shape)}, the "
                f"model has {mine.dtype}{list(mine.shape)}"
            )
    for key, a in arrays.items():
        if not np.isfinite(a).all():
            raise CheckpointError(f"checkpoint {path}: {key} contains NaN or Inf")
    try:
        if grad_method is not None:
            grad_method.load_state_dict(model, info["grad_method"])
        if optimizer is not None:
            optimizer.load_state_dict(
                {
                    "kind": opt_info.get("kind"),
                    "hyper": opt_info.get("hyper"),
                    "step": opt_info.get("step"),
                    "arrays": {
                        name: [arrays[f"optimizer/{name}/{i}"] for i in range(n)]
                        for name, n in counts.items()
                    },
                }
            )
    except (StateError, ShapeError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path}: {err}") from err
    model.load_state_dict(state)
    return history, meta


# -- divergence markers --------------------------------------------------------------------------
def _diverged_marker(checkpoint: str | os.PathLike) -> Path:
    path = Path(checkpoint)
    return path.with_name(path.name + ".diverged.json")


def _read_marker(marker: Path) -> dict | None:
    """The marker's content, or None if it is unreadable (then it is treated as stale)."""
    try:
        content = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keys = {"run_id", "settings", "history"}
    return content if isinstance(content, dict) and keys <= set(content) else None


# -- the loop ------------------------------------------------------------------------------------
def _check_count(name: str, value, minimum: int) -> int:
    """``value`` as an int if it is an integer (Python or NumPy, not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive" if minimum == 1 else "a non-negative"
        raise ValueError(f"train: {name} must be {kind} integer, got {value!r}")
    return int(value)


def _check_data(x_train, y_train, x_test, y_test, batch_size: int, model: Sequential) -> None:
    """Bad input raises here, before training: it is not a divergence."""
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise ShapeError(f"train: x_{name} has {len(x)} examples but y_{name} {len(y)}")
        if len(x) == 0:
            raise ShapeError(f"train: the {name} set is empty")
        if not np.isfinite(x).all():
            raise NonFiniteError(
                f"train: x_{name} contains NaN or Inf (bad input data, not a divergence)"
            )
    if any(isinstance(layer, BatchNorm) for layer in model.layers):
        if len(x_train) % batch_size == 1 or batch_size == 1:
            raise ShapeError(
                f"train: with {len(x_train)} training examples and batch_size {batch_size}, "
                "a batch of one sample would reach BatchNorm, whose variance is then 0; "
                "change batch_size or the training set size"
            )


def train(
    model: Sequential,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    epochs: int = 20,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float | None = None,
    eps: float | None = None,
    seed: int = 0,
    optimizer: Optimizer | None = None,
    grad_method: GradMethod | str | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: Callable[[EpochRecord], None] | None = None,
    meta: dict | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs; evaluate on ``(x_test, y_test)`` after each.

    * ``optimizer``: any :class:`tinybgn.optim.Optimizer` over ``model.parameters()`` (e.g.
      from :func:`tinybgn.optim.make_optimizer`); None means ``Adam(lr, eps)`` with ``lr``
      default 1e-3 and ``eps`` default 1e-7 (Keras's values, an assumption). With an
      ``optimizer``, ``lr`` and ``eps`` may be left out or must equal its own (``eps`` only for
      Adam); a contradicting value raises ValueError instead of being silently ignored.
    * ``grad_method``: None / ``"none"``, a name for
      :func:`tinybgn.grad_methods.make_grad_method`, or such an object; its ``prepare(model)``
      runs before the first step of a fresh run, its ``apply(model)`` after every backward.
    * ``seed`` fixes the batch order (epoch ``e`` shuffles with ``default_rng([seed, e])``);
      the initial weights are fixed by the seed given to :func:`tinybgn.mlp`.
    * ``epochs``, ``batch_size``, ``seed``: integers (Python or NumPy; not bool).
    * ``progress(record)`` is called with each finished :class:`EpochRecord`.
    * ``checkpoint``: save after every epoch (the folder must exist; checked before training).
      ``resume=True`` continues from it if it exists, and raises :class:`ResumeError` if this
      call's :func:`run_settings` differ from the saved ones. ``meta`` (JSON-able) is stored in
      the checkpoint's meta under ``"user"`` (``read_checkpoint_meta(path)["user"]``).

    Returns the :class:`History`. Divergence (see the module docstring: NaN/Inf, or a loss
    above ``DIVERGENCE_GROWTH * max(L_0, ln K)``) stops training and is recorded in
    ``history.diverged``; it is not raised. Bad input raises before training.
    """
    epochs = _check_count("epochs", epochs, 0)
    batch_size = _check_count("batch_size", batch_size, 1)
    seed = _check_count("seed", seed, 0)
    _check_data(x_train, y_train, x_test, y_test, batch_size, model)
    if optimizer is None:
        lr = DEFAULT_LR if lr is None else lr
        optimizer = Adam(model.parameters(), lr=lr, eps=DEFAULT_EPS if eps is None else eps)
    elif (lr is not None and lr != optimizer.lr) or (
        eps is not None and eps != getattr(optimizer, "eps", None)
    ):
        raise ValueError(
            f"train: lr={lr!r}, eps={eps!r} contradict the optimizer given, "
            f"{type(optimizer).__name__}({optimizer.hyper()}); leave them out"
        )
    if grad_method is None or isinstance(grad_method, str):
        grad_method = make_grad_method(grad_method or "none")
    history = History(meta={"blas_threads": blas.num_threads(), "initial_loss": None})
    start, run_id, settings = 0, uuid.uuid4().hex, None
    fresh = True
    if checkpoint is not None:
        check_writable(checkpoint, "checkpoint")
        data = (x_train, y_train, x_test, y_test)
        settings = run_settings(
            model, optimizer, grad_method, data, batch_size=batch_size, seed=seed
        )
        if resume and Path(checkpoint).exists():
            saved, saved_meta = load_checkpoint(
                checkpoint, model, optimizer, grad_method=grad_method, settings=settings
            )
            history.epochs, history.diverged = saved.epochs, saved.diverged
            history.meta = {**saved.meta, "blas_threads": history.meta["blas_threads"]}
            start, run_id, fresh = len(history.epochs), saved_meta.get("run_id", run_id), False
        marker = _diverged_marker(checkpoint)
        if marker.exists():
            recorded = _read_marker(marker)
            owner = recorded is not None and (
                recorded["run_id"] == run_id if not fresh else recorded["settings"] == settings
            )
            if resume and owner:  # this run diverged before: the same seed would again
                return History.from_dict(recorded["history"])
            marker.unlink(missing_ok=True)  # stale: left by another run
    if fresh:
        grad_method.prepare(model)
    checkpoint_meta = {"run_id": run_id, "settings": settings, "blas": blas.info()}
    checkpoint_meta["user"] = meta

    model.train()
    for epoch in range(start, epochs):
        rng = np.random.default_rng([seed, epoch])
        losses, tic = [], time.perf_counter()
        xb = x_train[:batch_size]
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                for xb, yb in batches(x_train, y_train, batch_size, rng=rng):
                    logits = model.forward(xb, training=True)
                    loss, dlogits = softmax_cross_entropy(logits, yb)
                    if not np.isfinite(loss):
                        raise NonFiniteError(f"the loss is {loss}")
                    if history.meta["initial_loss"] is None:  # L_0, at the initial weights
                        history.meta["initial_loss"] = float(loss)
                        history.meta["classes"] = int(logits.shape[1])
                    model.backward(dlogits, input_grad=False)  # only params' grads needed
                    grad_method.apply(model)
                    optimizer.step()
                    losses.append(loss)
            seconds = time.perf_counter() - tic
            metrics = evaluate(model, x_test, y_test)
        except NonFiniteError as err:
            history.diverged = {
                "epoch": epoch + 1,
                "step": len(losses) + 1,  # the step that failed (or the evaluation)
                "error": str(err),
                **locate_nonfinite(model, xb),
            }
            break
        record = EpochRecord(
            epoch=epoch + 1,
            train_loss=float(np.mean(losses)),
            test_loss=float(metrics["loss"]),
            test_accuracy=metrics["accuracy"],
            top_class_fraction=metrics["top_class_fraction"],
            seconds=seconds,
        )
        history.epochs.append(record)
        history.diverged = _loss_growth(record, history.meta)
        if checkpoint is not None and history.diverged is None:
            save_checkpoint(
                checkpoint, model, optimizer, history, checkpoint_meta, grad_method=grad_method
            )
        if progress is not None:
            progress(record)
        if history.diverged is not None:
            break
    if history.diverged is not None and checkpoint is not None:
        # Keep the last good weights on disk; only record that (and how) the run diverged.
        marker = {"run_id": run_id, "settings": settings, "history": history.to_dict()}
        atomic_write_text(_diverged_marker(checkpoint), json.dumps(marker, indent=1))
    return history


def _loss_growth(record: EpochRecord, meta: dict) -> dict | None:
    """The :data:`DIVERGENCE_GROWTH` rule: a ``diverged`` dict if a loss of ``record``
    exceeds DIVERGENCE_GROWTH * max(L_0, ln K), else None."""
    reference = max(meta.get("initial_loss") or 0.0, math.log(meta.get("classes") or 2))
    limit = DIVERGENCE_GROWTH * reference
    for name in ("train_loss", "test_loss"):
        value = getattr(record, name)
        if value > limit:
            return {
                "epoch": record.epoch,
                "step": None,
                "error": (
                    f"{name.replace('_', ' ')} {value:.3g} exceeds {DIVERGENCE_GROWTH:g} x "
                    f"max(initial loss, ln K) = {limit:.3g}: the run blew up"
                ),
                "stage": "loss",
                "layer_index": None,
                "layer": None,
            }
    return None


__all__ = [
    "CHECKPOINT_VERSION",
    "DEFAULT_BATCH_SIZE",
    "DIVERGENCE_GROWTH",
    "CheckpointError",
    "EpochRecord",
    "History",
    "OutputError",
    "ResumeError",
    "check_writable",
    "evaluate",
    "load_checkpoint",
    "locate_nonfinite",
    "read_checkpoint_meta",
    "run_settings",
    "save_checkpoint",
    "train",
]
