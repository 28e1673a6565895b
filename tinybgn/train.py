"""Training a network: the mini-batch loop, evaluation, history, checkpoints and divergence.

One epoch of mini-batch training, as in section 4 of the paper (Adam, softmax cross-entropy)::

    for each batch (x_b, y_b) of a fresh shuffle of the training set:
        logits = model.forward(x_b)                      forward pass, eqs. (4) and z = W x + b
        L, dL/dlogits = softmax_cross_entropy(logits, y_b)
        model.backward(dL/dlogits)                       eqs. (1)-(3), (5)-(8)
        optimizer.step()                                 Adam, Kingma & Ba Algorithm 1

After every epoch the model is evaluated on the test set (in evaluation mode, so BatchNorm uses
its running statistics), and one row is added to the :class:`History`. The final accuracy is the
one after the last epoch: no epoch is picked by looking at the test set.

**Batch size.** The paper does not state it. We default to 32, the default of Keras's
``Model.fit``, which the paper used (Keras, Adam with eps=1e-7, BatchNorm momentum 0.99): a
paper that does not mention the batch size most likely kept the default. It is an option
everywhere (``batch_size=``, ``--batch-size``).

**Divergence.** If a loss, logit or parameter becomes NaN or Inf, training stops and the history
records ``diverged`` (epoch, step, message) with the layer where the non-finite values started
(see :func:`locate_nonfinite`). ``train`` returns normally: a diverged run is a result, not a
crash, so it never takes a sweep down.

**Checkpoints** (``checkpoint=path``) are written after every epoch, atomically: to a temporary
file in the same folder, then ``os.replace``, so a crash leaves either the old or the new file,
never half a file. ``load_checkpoint`` restores model, optimiser and history; ``train(...,
resume=True)`` continues from the epoch after it. The batch order of epoch ``e`` is drawn from
``default_rng([seed, e])``, so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tinybgn.data.batches import batches
from tinybgn.errors import NonFiniteError, StateError
from tinybgn.losses import softmax_cross_entropy
from tinybgn.optim import Adam
from tinybgn.sequential import Sequential

#: Default mini-batch size: Keras ``Model.fit``'s default (the paper does not state one).
DEFAULT_BATCH_SIZE = 32


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
    :func:`locate_nonfinite` (``stage``, ``layer_index``, ``layer``).
    """

    epochs: list[EpochRecord] = field(default_factory=list)
    diverged: dict | None = None

    @property
    def final(self) -> EpochRecord | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def train_seconds(self) -> float:
        return float(sum(e.seconds for e in self.epochs))

    def to_dict(self) -> dict:
        return {"epochs": [asdict(e) for e in self.epochs], "diverged": self.diverged}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls([EpochRecord(**e) for e in d["epochs"]], d.get("diverged"))


def evaluate(
    model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = 1000
) -> dict[str, float]:
    """Loss, accuracy and most-predicted-class share of ``model`` on ``(x, y)``, in eval mode.

    ``top_class_fraction`` = max_k #{n : argmax logits_n = k} / N. A value near 1 means the
    network predicts one class for everything; its accuracy is then the share of that class in
    ``y`` (0.1135 for MNIST's test set, the 0.114 that fills the paper's Table 1).
    Raises NonFiniteError if the logits are not finite.
    """
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


# -- checkpoints ---------------------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike, model: Sequential, optimizer: Adam, history: History, meta: dict
) -> Path:
    """Write model state, Adam state and history to ``path`` (an ``.npz``), atomically.

    The arrays go to a temporary file in the same folder, which is then renamed over ``path``
    (``os.replace`` is atomic on POSIX and Windows), so readers see the old or the new
    checkpoint, never a torn one. ``meta`` (JSON-able) is stored beside the history.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    arrays.update({f"adam/m/{i}": a for i, a in enumerate(opt["m"])})
    arrays.update({f"adam/v/{i}": a for i, a in enumerate(opt["v"])})
    info = {"adam_t": opt["t"], "history": history.to_dict(), "meta": meta}
    arrays["info"] = np.frombuffer(json.dumps(info).encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(
    path: str | os.PathLike, model: Sequential, optimizer: Adam | None = None
) -> tuple[History, dict]:
    """Restore ``model`` (and ``optimizer``) from ``save_checkpoint``'s file.

    Returns ``(history, meta)``. Raises StateError if the file is not a tinybgn checkpoint and
    ShapeError if it belongs to a different architecture.
    """
    try:
        with np.load(path) as z:
            files = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise StateError(f"load_checkpoint: cannot read {path}: {err}") from err
    if "info" not in files:
        raise StateError(f"load_checkpoint: {path} is not a tinybgn checkpoint (no 'info')")
    info = json.loads(files["info"].tobytes().decode())
    model.load_state_dict({k[6:]: v for k, v in files.items() if k.startswith("model/")})
    if optimizer is not None:
        n = len(optimizer.m)
        optimizer.load_state_dict(
            {
                "t": info["adam_t"],
                "m": [files[f"adam/m/{i}"] for i in range(n)],
                "v": [files[f"adam/v/{i}"] for i in range(n)],
            }
        )
    return History.from_dict(info["history"]), info["meta"]


# -- the loop ------------------------------------------------------------------------------------
def train(
    model: Sequential,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    epochs: int = 20,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = 1e-3,
    eps: float = 1e-7,
    seed: int = 0,
    optimizer: Adam | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: Callable[[EpochRecord], None] | None = None,
) -> History:
    """Train ``model`` with Adam(``lr``, ``eps``) for ``epochs`` epochs; evaluate after each.

    ``seed`` fixes the batch order (epoch ``e`` shuffles with ``default_rng([seed, e])``); the
    initial weights are fixed by the seed given to :func:`tinybgn.mlp`. ``progress`` is called
    with each finished :class:`EpochRecord`. With ``checkpoint`` the state is saved after every
    epoch; with ``resume=True`` and an existing checkpoint, training continues from it.

    Returns the :class:`History`. A NaN/Inf loss stops training and is recorded in
    ``history.diverged``; it is not raised.
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"train: epochs must be a non-negative integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"train: batch_size must be a positive integer, got {batch_size!r}")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError("train: x and y must have the same number of examples")
    optimizer = optimizer or Adam(model.parameters(), lr=lr, eps=eps)
    history, start = History(), 0
    if resume and checkpoint is not None:
        marker = _diverged_marker(checkpoint)
        if Path(checkpoint).exists():
            history, _ = load_checkpoint(checkpoint, model, optimizer)
            start = len(history.epochs)
        if marker.exists():  # it diverged before: the same seed would diverge again
            history.diverged = json.loads(marker.read_text())
            return history

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
                    model.backward(dlogits, input_grad=False)  # only params' grads needed
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
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, history, {"seed": seed, "lr": lr})
        if progress is not None:
            progress(record)
    if history.diverged is not None and checkpoint is not None:
        # Keep the last good weights on disk; only record that the run diverged.
        _mark_diverged(checkpoint, history)
    return history


def _diverged_marker(checkpoint: str | os.PathLike) -> Path:
    path = Path(checkpoint)
    return path.with_name(path.name + ".diverged.json")


def _mark_diverged(checkpoint: str | os.PathLike, history: History) -> None:
    marker = _diverged_marker(checkpoint)
    tmp = marker.with_name(marker.name + ".part")
    tmp.write_text(json.dumps(history.diverged, indent=2))
    os.replace(tmp, marker)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EpochRecord",
    "History",
    "evaluate",
    "load_checkpoint",
    "locate_nonfinite",
    "save_checkpoint",
    "train",
]
