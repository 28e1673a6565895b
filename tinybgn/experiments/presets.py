"""Presets: the sizes of a reproduction, from the paper's full protocol down to a CI smoke test.

The paper's protocol (section 4): dense networks of 64 units per hidden layer, depths 30, 60, 90
and 120, ReLU / sigmoid / tanh, with and without BatchNorm (BN), with and without BGN; Adam;
20 epochs; a learning-rate search over 19 log-spaced rates in [1e-4, 1e-2] with 5 runs per rate;
then 10 more runs at the best rate; Table 1 reports mean +- std over those 15 runs.

* ``paper``: exactly that, on the full MNIST (60k train / 10k test). About 48 x 105 = 5040 runs
  of 20 epochs: weeks on 2 cores; meant for a bigger machine or a distributed executor.
* ``quick``: the same design scaled to finish in about an hour on a 2-core machine with only the
  real MNIST test set (carved into 8000 train / 2000 test): 5 log-spaced rates, 1 run each, then
  2 more runs at the best rate (3 values per cell), few epochs. Sized from measured step times.
* ``smoke``: every code path in well under 2 minutes (tiny depths and data); run by CI.

Every field is also a command-line flag of ``tinybgn reproduce`` (see ``cli.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from tinybgn.train import DEFAULT_BATCH_SIZE

ACTIVATIONS = ("relu", "sigmoid", "tanh")


@dataclass(frozen=True)
class Preset:
    """All sizes of one reproduction. ``lr_grid`` = ``lr_count`` log-spaced rates in
    [``lr_min``, ``lr_max``]; the eps sweep trains ``eps_activations`` x {no BGN, BGN} x
    ``eps_values`` x ``eps_seeds`` networks of depth ``eps_depth`` (no BN) at ``eps_lr``."""

    name: str
    dataset: str = "mnist"
    n_train: int | None = None  # None: all the training examples
    n_test: int | None = None
    epochs: int = 20
    batch_size: int = DEFAULT_BATCH_SIZE
    width: int = 64
    depths: tuple[int, ...] = (30, 60, 90, 120)
    activations: tuple[str, ...] = ACTIVATIONS
    lr_count: int = 19
    lr_min: float = 1e-4
    lr_max: float = 1e-2
    search_runs: int = 5
    final_runs: int = 10
    figure_depth: int = 90
    probe_batch: int = 256
    adam_eps: float = 1e-7
    eps_values: tuple[float, ...] = (1e-3, 1e-5, 1e-7, 1e-9, 1e-12)
    eps_activations: tuple[str, ...] = ("relu", "sigmoid")
    eps_depth: int = 90
    eps_lr: float = 1e-3
    eps_seeds: int = 3
    eps_epochs: int | None = None  # None: same as ``epochs``
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def lr_grid(self) -> list[float]:
        """The searched learning rates, rounded to 4 significant digits (stable job ids)."""
        grid = np.logspace(np.log10(self.lr_min), np.log10(self.lr_max), self.lr_count)
        return [float(f"{lr:.4g}") for lr in grid]

    def replace(self, **changes) -> Preset:
        """A copy with some fields changed (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"Preset: unknown fields {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def validate(self) -> Preset:
        """Raise ValueError with a clear message for impossible sizes; return self."""
        for name in ("epochs", "batch_size", "width", "lr_count", "search_runs", "probe_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"preset {self.name}: {name} must be >= 1")
        if self.final_runs < 0 or self.eps_seeds < 0:
            raise ValueError(f"preset {self.name}: final_runs and eps_seeds must be >= 0")
        if not self.depths or min(self.depths) < 1:
            raise ValueError(f"preset {self.name}: depths must be positive integers")
        bad = set(self.activations) | set(self.eps_activations)
        bad -= set(ACTIVATIONS)
        if bad:
            raise ValueError(f"preset {self.name}: unknown activations {sorted(bad)}")
        if not 0 < self.lr_min <= self.lr_max:
            raise ValueError(f"preset {self.name}: need 0 < lr_min <= lr_max")
        if self.figure_depth < 1 or self.eps_depth < 1:
            raise ValueError(f"preset {self.name}: figure_depth and eps_depth must be >= 1")
        if self.figure_depth not in self.depths:
            raise ValueError(
                f"preset {self.name}: figure_depth={self.figure_depth} must be one of the "
                f"Table 1 depths {self.depths} (Figures 2-3 reuse those trained networks)"
            )
        return self


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        name="paper",
        notes=("The paper's protocol (section 4) on the standard MNIST split.",),
    ),
    "quick": Preset(
        name="quick",
        n_train=None,  # carved: 8000 train / 2000 test out of the 10k test set
        epochs=6,
        lr_count=5,
        search_runs=1,
        final_runs=2,
        eps_seeds=2,
        notes=(
            "Scaled to ~1 h on 2 cores: 5 rates x 1 run, then 2 more runs at the best rate "
            "(3 values per cell instead of 15), 6 epochs of 250 steps instead of 20 epochs of "
            "1875 steps. Sized from measured step times: ~4 ms (90 layers, plain) to ~12 ms "
            "(120 layers, BN+BGN) per step of 32 on one core of this machine.",
        ),
    ),
    "smoke": Preset(
        name="smoke",
        n_train=600,
        n_test=300,
        epochs=1,
        depths=(3, 6),
        lr_count=2,
        search_runs=1,
        final_runs=1,
        figure_depth=6,
        probe_batch=64,
        eps_depth=6,
        eps_seeds=1,
        notes=("CI smoke test: exercises every code path, numbers mean nothing.",),
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
