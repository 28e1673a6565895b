"""A training run described by data: one flat, JSON-able spec, and its deterministic id.

A :class:`JobSpec` says everything that determines a run's numbers - and nothing else - as
plain values (str, int, float, bool, None), so it can be written to a JSONL store, read back on
another machine, or generated from a TOML grid (:mod:`tinybgn.experiments.sweep`)::

    data       dataset, data_split ("standard" | "carve"), n_train, n_val, n_test, data_seed,
               data_fingerprint
    model      builder ("mlp" | "residual_mlp"), depth, width, activation, batchnorm, bgn,
               bgn_kappa (None = sqrt(width)), bgn_every, bgn_scope
    optimizer  optimizer ("adam" | "sgd" | "momentum"), lr, adam_eps, momentum
    gradients  grad_method ("none" | "block_normalized" | "clip" | "frozen_bgn"), clip_norm
    training   epochs, batch_size, seed
    labels     study, run, selection ("validation" | "paper": how the study picks its rate)
    probes     probe, probe_batch (Figures 2-3), monitor (per-layer quantities at epoch ends)

**The id** is ``sha256(canonical JSON of the spec)[:16]``: the same run has the same id on any
machine. Keys added after the first stores were written (:data:`NEW_DEFAULTS`) are left out of
the canonical JSON while they hold their default value, so every spec written before them keeps
its id (and its stored run is reused): a spec is identified by what it *changes*.

Old records lack the new keys; :meth:`JobSpec.from_dict` fills in :data:`NEW_DEFAULTS`. Their
``selection`` is ``"paper"``: they had no validation split and chose the rate on the test set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

from tinybgn.errors import TinyBGNError


class SpecError(TinyBGNError, ValueError):
    """A run spec (or a grid of them) holds an unknown key or an impossible value."""


#: Allowed values of the spec's categorical keys.
CHOICES = {
    "activation": ("relu", "sigmoid", "tanh"),
    "builder": ("mlp", "residual_mlp"),
    "optimizer": ("adam", "sgd", "momentum"),
    "grad_method": ("none", "block_normalized", "clip", "frozen_bgn"),
    "bgn_scope": ("batch", "sample"),
    "data_split": ("standard", "carve"),
    "selection": ("validation", "paper"),
}

#: Keys added after the first stores were written, with the value that reproduces the old runs.
#: They enter a spec's id only when they differ from this value (old ids stay valid).
NEW_DEFAULTS: dict[str, object] = {
    "builder": "mlp",
    "bgn_kappa": None,
    "bgn_every": 1,
    "bgn_scope": "batch",
    "optimizer": "adam",
    "momentum": 0.9,
    "grad_method": "none",
    "clip_norm": 1.0,
    "n_val": 0,
    "selection": "paper",
    "monitor": False,
}

_FLOATS = ("lr", "adam_eps", "momentum", "clip_norm", "bgn_kappa")
_POSITIVE_INTS = ("depth", "width", "batch_size", "probe_batch", "bgn_every")


@dataclass(frozen=True)
class JobSpec:
    """Everything that determines one training run (see the module docstring for the keys).

    ``study`` and ``run`` are labels: ``study`` is ``"table1"`` (Table 1's search and final
    runs), ``"figures"`` (probed runs), ``"init_probe"`` (``epochs=0``: probed at
    initialisation, Figure 1), ``"eps"`` or a sweep's own name; ``run`` is the index of
    the seed. ``data_fingerprint`` identifies the files and split, so records made on different
    data never share an id. Values are normalised on construction (``lr=1`` becomes ``1.0``), so
    a TOML integer and a Python float give the same id.
    """

    study: str
    activation: str
    depth: int
    batchnorm: bool
    bgn: bool
    lr: float
    seed: int
    run: int
    epochs: int
    batch_size: int
    adam_eps: float = 1e-7
    width: int = 64
    dataset: str = "mnist"
    data_split: str = "standard"
    n_train: int | None = None
    n_test: int | None = None
    data_seed: int = 0
    data_fingerprint: str = ""
    probe: bool = False
    probe_batch: int = 256
    # -- keys added later (NEW_DEFAULTS): absent from the id while at their default --------
    builder: str = "mlp"
    bgn_kappa: float | None = None
    bgn_every: int = 1
    bgn_scope: str = "batch"
    optimizer: str = "adam"
    momentum: float = 0.9
    grad_method: str = "none"
    clip_norm: float = 1.0
    n_val: int = 0
    selection: str = "paper"
    monitor: bool = False

    def __post_init__(self) -> None:
        for name in _FLOATS:
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise SpecError(f"spec key {name!r} must be a number, got {value!r}")
                object.__setattr__(self, name, float(value))
        for name in ("batchnorm", "bgn", "probe", "monitor"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"spec key {name!r} must be true or false")
        for name in (*_POSITIVE_INTS, "epochs", "seed", "run", "data_seed", "n_val", "n_train",
                     "n_test"):  # fmt: skip
            value = getattr(self, name)
            if value is None and name in ("n_train", "n_test"):
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecError(f"spec key {name!r} must be an integer, got {value!r}")
            low = 1 if name in (*_POSITIVE_INTS, "n_train", "n_test") else 0
            if value < low:
                raise SpecError(f"spec key {name!r} must be >= {low}, got {value}")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise SpecError(
                    f"spec key {name!r}: unknown value {getattr(self, name)!r}; "
                    f"choose one of {list(allowed)}"
                )
        for name in ("lr", "adam_eps", "clip_norm"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise SpecError(f"spec key {name!r} must be a positive number")
        if self.bgn_kappa is not None and not (
            math.isfinite(self.bgn_kappa) and self.bgn_kappa > 0
        ):
            raise SpecError("spec key 'bgn_kappa' must be a positive number (or absent: sqrt(d))")
        if not 0 <= self.momentum < 1:
            raise SpecError(f"spec key 'momentum' must be in [0, 1), got {self.momentum}")
        if self.optimizer == "momentum" and self.momentum == 0:
            raise SpecError("optimizer 'momentum' needs momentum > 0 (or use 'sgd')")
        if self.grad_method == "frozen_bgn" and not self.bgn:
            raise SpecError("grad_method 'frozen_bgn' freezes BGN's scales: it needs bgn = true")

    def to_dict(self) -> dict:
        """All keys, including the new ones at their defaults (what a record stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> JobSpec:
        """A spec from a stored dict; keys missing from old records take NEW_DEFAULTS."""
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise SpecError(f"unknown spec keys {sorted(unknown)}")
        try:
            return cls(**d)
        except TypeError as err:  # a required key is missing
            raise SpecError(f"incomplete spec: {err}") from None

    def id_dict(self) -> dict:
        """The dict that is hashed into the id: new keys only where they are not the default."""
        return {
            k: v for k, v in self.to_dict().items() if k not in NEW_DEFAULTS or v != NEW_DEFAULTS[k]
        }

    @property
    def id(self) -> str:
        text = json.dumps(self.id_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def config(self) -> tuple[str, int, bool, bool]:
        """The Table 1 cell: (activation, depth, batchnorm, bgn)."""
        return (self.activation, self.depth, self.batchnorm, self.bgn)

    def describe(self, keys: tuple[str, ...] | list[str] | None = None) -> str:
        """One line for progress output. With ``keys`` (a sweep's varying keys), those are
        named ``key=value``; otherwise the Table 1 cell, rate and any non-default new key."""
        if keys:
            parts = [f"{k}={_short(getattr(self, k))}" for k in keys if k not in ("lr", "run")]
            return f"{self.study} {' '.join(parts)} lr={self.lr:.2e} run {self.run}"
        flags = f"BN{'+' if self.batchnorm else '-'} BGN{'+' if self.bgn else '-'}"
        extra = f" eps={self.adam_eps:.0e}" if self.study == "eps" else ""
        extra += "".join(
            f" {k}={_short(v)}"
            for k, v in self.id_dict().items()
            if k in NEW_DEFAULTS and k not in ("selection", "n_val", "monitor")
        )
        return (
            f"{self.study:<7} {self.activation:<7} d{self.depth:<3} {flags} "
            f"lr={self.lr:.2e}{extra} run {self.run}"
        )

    def cost(self) -> float:
        """Relative run time, for scheduling the longest jobs first."""
        per_layer = 1.0 + 1.2 * self.batchnorm + 0.2 * self.bgn
        return self.epochs * (self.n_train or 60000) * self.depth * per_layer


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


__all__ = ["CHOICES", "NEW_DEFAULTS", "JobSpec", "SpecError"]
