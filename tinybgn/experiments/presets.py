"""Presets: the sizes of a reproduction, from the paper's full protocol down to a CI smoke test.

The paper's protocol (section 4): dense networks of 64 units per hidden layer, depths 30, 60, 90
and 120, ReLU / sigmoid / tanh, with and without BatchNorm (BN), with and without BGN; Adam;
20 epochs; a learning-rate search over 19 log-spaced rates in [1e-4, 1e-2] with 5 runs per rate;
then 10 more runs at the best rate; Table 1 reports mean +- std over those 15 runs.

Each preset is a TOML grid file shipped in ``grids/`` (``tinybgn sweep standard`` runs its
Table 1 part; ``tinybgn reproduce --preset standard`` all of it); the sizing arithmetic of each is
in its file, from the step times measured in :mod:`tinybgn.experiments.timing`, and
``tinybgn reproduce --preset NAME --dry-run`` prints the projected wall time.

* ``paper``: exactly that, on the full MNIST (60k train / 10k test), the rate chosen on the test
  set and the search runs counted (``selection = "paper"``). About 5100 runs of 20 epochs:
  weeks on 2 cores; meant for a bigger machine or a distributed executor.
* ``standard``: 20 epochs, all 48 cells, 7 rates x 1 search run scored on a *validation* split,
  then 10 final runs per cell reported on test; the real MNIST test set carved into 7000 train /
  1000 validation / 2000 test. 3 hours on 2 workers by the step table; its runs took 1.9x that
  on one machine here and 0.8x on another (docs/results/standard/engine-and-machines.md;
  ``--dry-run`` over a store says how much is left).
* ``fashion-full``: the full Fashion-MNIST (55k train / 5k validation / 10k test), 20 epochs,
  90 layers, no BN, 6 final runs per cell (the fewest paired runs with which the sign-flip
  test can reach p < 0.05). 9.8 core-hours, about 5 hours on 2 workers here (the step table
  says 1.6).
* ``quick``: the paper's design scaled to well under an hour (carved 8000 train / 2000 test,
  5 rates x 1 run, then 2 more, 6 epochs), with the paper's selection: the preset of the
  committed ``docs/results/quick*`` reports, whose runs it plans with the same ids.
* ``smoke``: every code path in well under 2 minutes (tiny depths and data); run by CI; falls
  back to the embedded real MNIST sample when no MNIST is found.

Every field is also a command-line flag of ``tinybgn reproduce`` (see ``cli.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tinybgn.experiments.spec import SpecError
from tinybgn.experiments.sweep import GRIDS_DIR, Grid, LRSearch, load_grid, lr_grid
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
    batchnorms: tuple[bool, ...] = (False, True)  # (False,): only the cells without BN
    lr_count: int = 19
    lr_min: float = 1e-4
    lr_max: float = 1e-2
    search_runs: int = 5
    final_runs: int = 10
    n_val: int = 0  # validation examples set aside from train (stratified, seeded)
    selection: str = "validation"  # LR search scored on "validation" or, as the paper, "paper"
    fallback: str | None = None  # "sample": use the embedded real digits if no MNIST is found
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
        return lr_grid(self.lr_min, self.lr_max, self.lr_count)

    def grid(self) -> Grid:
        """Table 1 as a sweep grid: axes activation x depth x BN x BGN, the LR search, study
        "table1" and seeds ``derive_seed("table1", activation, depth, run)`` (paired over rates
        and BN/BGN variants)."""
        fixed = {k: getattr(self, k) for k in PRESET_GRID_KEYS}
        axes = {
            "activation": list(self.activations),
            "depth": list(self.depths),
            "batchnorm": list(self.batchnorms),
            "bgn": [False, True],
        }
        search = LRSearch(tuple(self.lr_grid), self.search_runs, self.final_runs, self.selection)
        return Grid(self.name, fixed, axes, "table1", 1, ("activation", "depth"), search)

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
        if self.final_runs < 0 or self.eps_seeds < 0 or self.n_val < 0:
            raise ValueError(f"preset {self.name}: final_runs, eps_seeds, n_val must be >= 0")
        if self.selection not in ("validation", "paper"):
            raise ValueError(f"preset {self.name}: selection must be 'validation' or 'paper'")
        if self.selection == "validation" and (self.n_val < 1 or self.final_runs < 1):
            raise ValueError(
                f"preset {self.name}: selection 'validation' needs n_val >= 1 (a validation "
                "split to score the search on) and final_runs >= 1 (the runs Table 1 reports)"
            )
        if not self.eps_values or not self.eps_activations:
            raise ValueError(f"preset {self.name}: eps_values and eps_activations are needed")
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


#: Preset fields set in a TOML file's ``[reproduce]`` table (the rest are grid keys).
REPRODUCE_KEYS = (
    "figure_depth probe_batch eps_values eps_activations eps_depth eps_lr eps_seeds eps_epochs "
    "fallback"
).split()


def preset_from_grid(grid: Grid) -> Preset:
    """The :class:`Preset` of a Table 1 grid file (axes activation, depth, batchnorm, bgn)."""
    if set(grid.axes) != {"activation", "depth", "batchnorm", "bgn"} or grid.search is None:
        raise SpecError(
            f"preset {grid.name}: a Table 1 preset varies exactly activation, depth, batchnorm "
            "and bgn, and has an [lr_search] table"
        )
    if sorted(grid.axes["bgn"]) != [False, True]:
        raise SpecError(f"preset {grid.name}: bgn must be [false, true]")
    if grid.axes["batchnorm"] not in ([False], [False, True]):
        raise SpecError(f"preset {grid.name}: batchnorm must be [false, true] or [false]")
    extra = dict(grid.sections.get("reproduce", {}))
    unknown = set(extra) - set(REPRODUCE_KEYS)
    if unknown:
        raise SpecError(f"preset {grid.name}: unknown [reproduce] keys {sorted(unknown)}")
    for key in ("eps_values", "eps_activations"):
        if key in extra:
            extra[key] = tuple(extra[key])
    table = grid.sections["lr_search"]
    fixed = {k: v for k, v in grid.fixed.items() if k in PRESET_GRID_KEYS}
    if set(grid.fixed) - set(fixed):
        raise SpecError(
            f"preset {grid.name}: Table 1 presets fix only {PRESET_GRID_KEYS}, not "
            f"{sorted(set(grid.fixed) - set(fixed))}"
        )
    return Preset(
        name=grid.name,
        **fixed,
        depths=tuple(grid.axes["depth"]),
        batchnorms=tuple(grid.axes["batchnorm"]),
        activations=tuple(grid.axes["activation"]),
        lr_count=len(grid.search.lrs),
        lr_min=table.get("lr_min", 1e-4),
        lr_max=table.get("lr_max", 1e-2),
        search_runs=grid.search.runs,
        final_runs=grid.search.final_runs,
        selection=grid.search.selection,
        notes=(grid.notes,) if grid.notes else (),
        **extra,
    )


#: Grid keys a Table 1 preset may fix.
PRESET_GRID_KEYS = ("dataset", "n_train", "n_val", "n_test", "epochs", "batch_size", "width",
                    "adam_eps")  # fmt: skip

#: The reproduce presets shipped in ``grids/`` (each is also a ``tinybgn sweep`` grid).
PRESET_NAMES = ("paper", "standard", "fashion-full", "quick", "smoke")


def _load_presets() -> dict[str, Preset]:
    return {name: preset_from_grid(load_grid(GRIDS_DIR / f"{name}.toml")) for name in PRESET_NAMES}


PRESETS: dict[str, Preset] = _load_presets()


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
