"""Sweeps from a file: a TOML grid of run specs, expanded, run (resumably) and summarised.

A grid file (read with the standard library's ``tomllib``)::

    name = "kappa-optim"          # the sweep's name (output files; the runs' study)
    dataset = "mnist"             # scalar keys are fixed for every run ...
    n_train = 600
    epochs = 1
    depth = 6
    bgn = true
    bgn_kappa = [1.0, 8.0]        # ... list keys are grid axes: every combination is a variant
    optimizer = ["adam", "sgd"]
    lr = 0.001
    seeds = 2                     # runs per variant (run r: derive_seed(study, ..., r))

    [lr_search]                   # optional: search the rate per variant, then final runs
    lr_min = 1e-4                 # lr_count log-spaced rates in [lr_min, lr_max] (or lrs = [...])
    lr_max = 1e-2
    lr_count = 5
    runs = 1                      # search runs per rate
    final_runs = 10               # more runs at the best rate
    selection = "validation"      # score the search on validation ("paper": on test)

Keys: every :class:`~tinybgn.experiments.spec.JobSpec` key except the labels and the planned
data fields (:data:`GRID_KEYS`), plus ``name``, ``study`` (the runs' label and the seeds' first
part; default: the name), ``seeds``, ``seed_keys`` (keys whose value enters the seed, e.g.
``["activation", "depth"]`` as in Table 1; default: none, so *every* variant of a run index
starts from the same seed - paired comparisons), ``notes``. A ``[reproduce]`` table holds the
extra settings of a ``tinybgn reproduce`` preset and is ignored by a sweep; so the Table 1
presets (``grids/*.toml`` in this package) are grids too.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
import tomllib
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinybgn.experiments.jobs import cpu_model, data_fingerprint, derive_seed, load_data
from tinybgn.experiments.spec import JobSpec, SpecError
from tinybgn.experiments.store import read_records

#: Spec keys a grid may set (scalar) or vary (list).
GRID_KEYS = (
    "dataset n_train n_val n_test data_seed epochs batch_size builder depth width activation "
    "batchnorm bgn bgn_kappa bgn_every bgn_scope optimizer lr adam_eps momentum grad_method "
    "clip_norm probe probe_batch monitor"
).split()
#: Values of keys a grid leaves out (the other spec keys have their JobSpec defaults; depth,
#: activation and epochs must be given).
GRID_DEFAULTS = {"batchnorm": False, "bgn": False, "batch_size": 32}
DATA_KEYS = ("dataset", "n_train", "n_val", "n_test", "data_seed")
META_KEYS = ("name", "study", "seeds", "seed_keys", "notes")
SECTIONS = ("lr_search", "reproduce")
GRIDS_DIR = Path(__file__).with_name("grids")


def lr_grid(lr_min: float, lr_max: float, lr_count: int) -> list[float]:
    """``lr_count`` log-spaced rates in [lr_min, lr_max], rounded to 4 significant digits (so
    the job ids are stable across NumPy versions)."""
    grid = np.logspace(np.log10(lr_min), np.log10(lr_max), lr_count)
    return [float(f"{lr:.4g}") for lr in grid]


@dataclass(frozen=True)
class LRSearch:
    """Phase 1 trains ``runs`` runs at each rate; the best rate has the highest mean score
    (validation accuracy, or test accuracy for ``selection="paper"``; a diverged run scores 0;
    ties go to the smaller rate); phase 2 trains ``final_runs`` more runs at it."""

    lrs: tuple[float, ...]
    runs: int = 1
    final_runs: int = 10
    selection: str = "validation"

    @property
    def score_key(self) -> str:
        return "accuracy" if self.selection == "paper" else "val_accuracy"

    def best(self, records_by_lr: dict[float, list[dict | None]]) -> float:
        """The best rate from the search records of one variant."""
        scores = []
        for lr in self.lrs:
            values = []
            for record in records_by_lr[lr]:
                if record is None:
                    raise SpecError("a search run is missing from the store; run phase 1 first")
                value = record.get(self.score_key)
                if value is None and record["diverged"] is None:
                    raise SpecError(
                        f"record {record['id']} has no {self.score_key}: selection "
                        f"{self.selection!r} needs a validation split (n_val > 0)"
                    )
                values.append(0.0 if value is None else value)
            scores.append(np.mean(values))
        return self.lrs[int(np.argmax(scores))]  # argmax: the first (smallest) of equal rates


@dataclass(frozen=True)
class Grid:
    """A parsed grid file: fixed keys, axes (in file order), seeds, optional LR search."""

    name: str
    fixed: dict
    axes: dict[str, list]
    study: str = ""
    seeds: int = 1
    seed_keys: tuple[str, ...] = ()
    search: LRSearch | None = None
    notes: str = ""
    sections: dict = field(default_factory=dict)

    @property
    def varying(self) -> list[str]:
        """The keys that vary (progress lines and tables name them)."""
        return [k for k in self.axes if k != "lr"] + (["lr"] if "lr" in self.axes else [])

    def variants(self) -> list[dict]:
        """Every combination of the axes (except ``lr`` when it is searched), merged into the
        fixed keys, in file order (the last axis varies fastest)."""
        axes = {k: v for k, v in self.axes.items() if not (self.search and k == "lr")}
        names = list(axes)
        return [
            {**self.fixed, **dict(zip(names, values, strict=True))}
            for values in itertools.product(*(axes[k] for k in names))
        ]

    def data_keys(self, variant: dict) -> tuple:
        return tuple(variant.get(k) for k in DATA_KEYS)


def parse_grid(config: dict, source: str = "grid") -> Grid:
    """A :class:`Grid` from the dict of a TOML file; SpecError names any bad key."""
    config = dict(config)
    unknown = set(config) - set(GRID_KEYS) - set(META_KEYS) - set(SECTIONS)
    if unknown:
        raise SpecError(f"{source}: unknown keys {sorted(unknown)}; known: {GRID_KEYS}")
    name = config.pop("name", None) or Path(source).stem
    study = config.pop("study", name)
    seeds = config.pop("seeds", 1)
    seed_keys = tuple(config.pop("seed_keys", ()))
    notes = config.pop("notes", "")
    sections = {k: config.pop(k) for k in SECTIONS if k in config}
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise SpecError(f"{source}: seeds must be a positive integer, got {seeds!r}")
    bad_seed_keys = set(seed_keys) - set(GRID_KEYS)
    if bad_seed_keys:
        raise SpecError(f"{source}: seed_keys names unknown keys {sorted(bad_seed_keys)}")
    fixed = {k: v for k, v in config.items() if not isinstance(v, list)}
    axes = {k: v for k, v in config.items() if isinstance(v, list)}
    for key, values in axes.items():
        if not values:
            raise SpecError(f"{source}: axis {key!r} is an empty list")
    search = None
    if "lr_search" in sections:
        if "lr" in config:
            raise SpecError(f"{source}: give lr or an [lr_search] table, not both")
        search = _parse_search(sections["lr_search"], source)
    elif "lr" not in config:
        raise SpecError(f"{source}: give lr (fixed or a list) or an [lr_search] table")
    grid = Grid(name, fixed, axes, study, seeds, seed_keys, search, notes, sections)
    if search is not None and search.selection == "validation":
        if any(not v.get("n_val") for v in grid.variants()):
            raise SpecError(
                f"{source}: selection 'validation' scores the search on a validation split: "
                "set n_val > 0 (or selection = 'paper')"
            )
    for variant in grid.variants()[:1]:  # check one spec early: bad values fail before training
        make_spec(grid, variant, search.lrs[0] if search else variant["lr"], 0, {})
    return grid


def _parse_search(table: dict, source: str) -> LRSearch:
    allowed = {"lrs", "lr_min", "lr_max", "lr_count", "runs", "final_runs", "selection"}
    unknown = set(table) - allowed
    if unknown:
        raise SpecError(f"{source}: [lr_search] has unknown keys {sorted(unknown)}")
    if "lrs" in table:
        lrs = tuple(float(lr) for lr in table["lrs"])
    else:
        lo, hi, n = table.get("lr_min", 1e-4), table.get("lr_max", 1e-2), table.get("lr_count", 19)
        if not (0 < lo <= hi) or not isinstance(n, int) or n < 1:
            raise SpecError(f"{source}: [lr_search] needs 0 < lr_min <= lr_max and lr_count >= 1")
        lrs = tuple(lr_grid(lo, hi, n))
    search = LRSearch(
        lrs=lrs,
        runs=table.get("runs", 1),
        final_runs=table.get("final_runs", 10),
        selection=table.get("selection", "validation"),
    )
    if not lrs or search.runs < 1 or search.final_runs < 0:
        raise SpecError(f"{source}: [lr_search] needs rates, runs >= 1 and final_runs >= 0")
    if search.selection not in ("validation", "paper"):
        raise SpecError(f"{source}: selection must be 'validation' or 'paper'")
    if search.selection == "validation" and search.final_runs < 1:
        raise SpecError(f"{source}: selection 'validation' reports the final runs: final_runs >= 1")
    return search


def load_grid(path: str | Path) -> Grid:
    """Read a grid file; a bare name (``"standard"``) means ``grids/<name>.toml`` shipped here."""
    path = Path(path)
    if not path.exists() and (GRIDS_DIR / f"{path.name}.toml").exists():
        path = GRIDS_DIR / f"{path.name}.toml"
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError:
        shipped = sorted(p.stem for p in GRIDS_DIR.glob("*.toml"))
        raise SpecError(f"no grid file {path} (shipped grids: {shipped})") from None
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SpecError(f"cannot read the grid {path}: {err}") from None
    return parse_grid(config, str(path))


# -- from a grid to specs ------------------------------------------------------------------------
def make_spec(grid: Grid, variant: dict, lr: float, run: int, data: dict, **labels) -> JobSpec:
    """The spec of run ``run`` of ``variant`` at rate ``lr``. ``data`` holds the planned data
    fields (data_split, data_fingerprint, ...; from :func:`plan_data`). The seed is
    ``derive_seed(grid.study, *[variant[k] for k in seed_keys], run)``."""
    values = {k: v for k, v in variant.items() if k != "lr"}
    seed = derive_seed(grid.study, *[variant.get(k) for k in grid.seed_keys], run)
    selection = {} if grid.search is None else {"selection": grid.search.selection}
    fields = {**GRID_DEFAULTS, **values, **data, **selection, **labels}
    fields.setdefault("study", grid.study)
    try:
        return JobSpec(lr=lr, run=run, seed=seed, **fields)
    except TypeError as err:  # a required key is missing
        missing = str(err).split("argument", 1)[-1].strip(": s")
        raise SpecError(f"grid {grid.name}: set the key(s) {missing}") from None


def search_specs(grid: Grid, data_for) -> list[JobSpec]:
    """Phase 1 (with an LR search) or the only phase: ``data_for(variant)`` gives the planned
    data fields of a variant."""
    if grid.search is None:
        return [
            make_spec(grid, v, v["lr"], run, data_for(v))
            for v in grid.variants()
            for run in range(grid.seeds)
        ]
    return [
        make_spec(grid, v, lr, run, data_for(v))
        for v in grid.variants()
        for lr in grid.search.lrs
        for run in range(grid.search.runs)
    ]


def best_lrs(grid: Grid, data_for, store) -> list[float]:
    """The best rate of every variant (in :meth:`Grid.variants` order)."""
    best = []
    for v in grid.variants():
        by_lr = {
            lr: [
                store.get(make_spec(grid, v, lr, run, data_for(v)).id)
                for run in range(grid.search.runs)
            ]
            for lr in grid.search.lrs
        }
        best.append(grid.search.best(by_lr))
    return best


def final_specs(grid: Grid, data_for, best: list[float]) -> list[JobSpec]:
    """Phase 2: ``final_runs`` new runs per variant at its best rate (run indices continue)."""
    first = grid.search.runs
    return [
        make_spec(grid, v, lr, run, data_for(v))
        for v, lr in zip(grid.variants(), best, strict=True)
        for run in range(first, first + grid.search.final_runs)
    ]


# -- data ----------------------------------------------------------------------------------------
def plan_data(
    dataset: str,
    n_train: int | None,
    n_val: int,
    n_test: int | None,
    data_dir=None,
    *,
    data_seed: int = 0,
    download: bool = True,
    fallback: str | None = None,
    stream=None,
):
    """Load a dataset once to fix its split; return ``(dataset, spec data fields, warning)``.

    Files already present are used as they are; only when none are found is the dataset
    downloaded (``download``), and only if that fails too is ``fallback="sample"`` (the
    embedded real MNIST digits) used. When only one labelled split exists (e.g. just MNIST's
    10k test files), ``load_dataset``
    carves train/test out of it and warns; the warning is printed to ``stream`` and returned, so
    the protocol can say so. Workers then load with ``split="carve"`` - the same carving. The
    validation split (``n_val`` examples, stratified, seeded) is set aside from the training
    examples before ``n_train`` of them are kept.
    """
    from tinybgn.data import CarvedSplitWarning, DataNotFoundError

    sizes = dict(n_train=n_train, n_test=n_test, val_size=n_val, seed=data_seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CarvedSplitWarning)
        try:  # what is there first (a lone test split is carved), downloads only if none is
            ds = load_data(dataset, data_dir, download=False, **sizes)
        except DataNotFoundError:
            fallback = fallback if dataset == "mnist" else None  # the sample is MNIST's
            if not download and fallback is None:
                raise
            ds = load_data(dataset, data_dir, download=download, fallback=fallback, **sizes)
    message = None
    for w in caught:  # carved split, embedded sample: said once, plainly, and kept for reports
        print(f"WARNING: {w.message}", file=stream or sys.stderr, flush=True)
        if issubclass(w.category, CarvedSplitWarning):
            message = str(w.message)
    fields = {
        "dataset": ds.info["name"],
        "data_split": "standard" if ds.info["split"] == "standard" else "carve",
        "n_train": n_train,
        "n_test": n_test,
        "data_seed": data_seed,
        "data_fingerprint": data_fingerprint(ds.info),
    }
    if n_val:
        fields["n_val"] = n_val
    return ds, fields, message


def data_source(info: dict) -> str:
    """The one-line description of where the digits came from (``info["source"]`` where the
    data loader provides it)."""
    return info.get("source") or f"{info['name']} files in {info['directory']}"


def data_line(info: dict) -> str:
    """``data: <source>; <split>[; <validation>]: n train / n validation / n test`` - the
    sizes the runs really train, validate and test on (after any validation carve-out)."""
    parts = [data_source(info), info["split"]]
    if info.get("validation"):
        parts.append(info["validation"])
    sizes = f"{info['n_train']} train / {info.get('n_val', 0)} validation / {info['n_test']} test"
    return "data: " + "; ".join(parts) + f": {sizes}"


def estimate_run_seconds(spec: JobSpec, n_train: int, n_eval: int) -> float:
    """Projected seconds of one run on one core of the reference machine (see STEP_SECONDS)."""
    from tinybgn.experiments.timing import step_seconds

    steps = spec.epochs * math.ceil(n_train / spec.batch_size)
    per_step, per_example = step_seconds(spec)
    return steps * per_step + spec.epochs * n_eval * per_example


def projected_wall_seconds(costs: list[float], workers: int) -> float:
    """Wall time of jobs scheduled longest first on ``workers`` workers (greedy list schedule)."""
    finish = [0.0] * max(1, workers)
    for cost in sorted(costs, reverse=True):
        i = int(np.argmin(finish))
        finish[i] += cost
    return max(finish)


def observed_pace(
    records: dict, datasets: list, cpu: str | None = None
) -> tuple[int, float | None]:
    """``(n, factor)``: how long the stored runs really took, as a multiple of what the step-time
    table projects for them (median of ``wall_seconds / projection`` over the ``n`` finished,
    not diverged runs on one of ``datasets``, and on ``cpu`` if given; ``factor`` None if there
    are none).

    The table (:mod:`tinybgn.experiments.timing`) was measured once; a machine that is busier
    or slower on another day runs at another pace, and the runs of the store itself measure
    that pace in the same conditions as the runs still to come."""
    by_fingerprint = {data_fingerprint(ds.info): ds for ds in datasets}
    ratios = []
    for record in records.values():
        spec = record.get("spec") or {}
        ds = by_fingerprint.get(spec.get("data_fingerprint"))
        wall = record.get("wall_seconds")
        if ds is None or not wall or record.get("diverged") is not None:
            continue
        if cpu is not None and (record.get("worker") or {}).get("cpu") != cpu:
            continue
        try:
            projected = _cost(JobSpec.from_dict(spec), ds)
        except SpecError:
            continue  # a record of another tinybgn's spec format: no projection to compare
        if projected > 0:
            ratios.append(wall / projected)
    return len(ratios), (float(np.median(ratios)) if ratios else None)


def pace_note(
    records: dict, datasets: list, wall: float, remaining: tuple[int, float] | None = None
) -> str:
    """``"; the N stored runs took X x ... : at that pace H"`` for a dry run's line, or ``""``.

    A store that spans machines also gets the pace of the runs made on this CPU; with
    ``remaining`` = (runs not stored yet, their projected wall time), the time still to go."""
    n, factor = observed_pace(records, datasets)
    if factor is None:
        return ""
    note = (
        f"; the {n} finished runs already stored took {factor:.2f}x (median) what the table "
        f"projects for them: at that pace {hms(wall * factor)}"
    )
    here = cpu_model()
    n_here, factor_here = observed_pace(records, datasets, cpu=here)
    if n_here and n_here < n:
        note += f" ({n_here} of them ran on this CPU, {here}, at {factor_here:.2f}x)"
    if remaining is not None:
        pace, whose = (factor_here, "this CPU's") if n_here else (factor, "that")
        note += f"; {remaining[0]} runs not stored yet: {hms(remaining[1] * pace)} at {whose} pace"
    return note


def not_yet_stored(specs: list[JobSpec], records: dict) -> list[JobSpec]:
    """The planned ``specs`` that have no record in the store yet, matched on every key but the
    learning rate: a dry run plans the final runs at a placeholder rate, since it cannot know
    the rates the search will choose (a run's cost does not depend on its rate)."""

    def key(d: dict) -> str:
        return json.dumps({k: v for k, v in d.items() if k != "lr"}, sort_keys=True)

    stored = Counter()
    for record in records.values():
        try:
            stored[key(JobSpec.from_dict(record.get("spec") or {}).id_dict())] += 1
        except SpecError:
            continue
    left = []
    for spec in specs:
        k = key(spec.id_dict())
        if stored[k]:
            stored[k] -= 1
        else:
            left.append(spec)
    return left


def hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


# -- running a grid ------------------------------------------------------------------------------
def run_grid(
    grid: Grid,
    out_dir: str | Path,
    *,
    data_dir=None,
    download: bool = True,
    executor=None,
    workers: int = 2,
    quiet: bool = False,
    dry_run: bool = False,
    stream=None,
) -> dict:
    """Run (or resume) every run of ``grid`` into ``<out_dir>/runs.jsonl``, then rebuild the
    report of *all* runs in that store (several grids may share a folder, as the mechanism
    study's parts do) with :func:`tinybgn.experiments.analysis.build_report`: ``table1.md`` /
    ``table1.json`` with one row per variant, paired comparisons, figures; the grid's own
    protocol is kept as ``protocol-<name>.json``. ``dry_run``: plan and print the number
    of runs and their projected wall time (from :mod:`tinybgn.experiments.timing`), train
    nothing. Returns the report (``cells``, ``pairs``, ``claims`` ...) and ``runs`` (or, dry,
    ``runs`` and ``projected_wall_seconds``)."""
    from tinybgn.experiments.analysis import build_report
    from tinybgn.experiments.jobs import Progress, executor_for, run_sweep
    from tinybgn.experiments.report import check_out_dir, write_json
    from tinybgn.experiments.store import JsonlStore

    stream = stream or sys.stderr
    out = Path(out_dir)
    if not dry_run:
        check_out_dir(out)
    planned: dict[tuple, tuple] = {}

    def plan(variant: dict):
        key = grid.data_keys(variant)
        if key not in planned:
            planned[key] = plan_data(
                variant.get("dataset", "mnist"),
                variant.get("n_train"),
                variant.get("n_val", 0),
                variant.get("n_test"),
                data_dir,
                data_seed=variant.get("data_seed", 0),
                download=download,
                stream=stream,
            )
        return planned[key]

    def data_for(variant: dict) -> dict:
        return plan(variant)[1]

    if dry_run:
        costs = []
        for v in grid.variants():
            ds, fields, _ = plan(v)
            lrs = grid.search.lrs if grid.search else [v["lr"]]
            n = grid.search.runs * len(lrs) + grid.search.final_runs if grid.search else grid.seeds
            costs += [_cost(make_spec(grid, v, lrs[0], 0, fields), ds)] * n
        wall = projected_wall_seconds(costs, workers)
        stored, _ = read_records(out / "runs.jsonl")  # read-only
        done = len({s.id for s in search_specs(grid, data_for)} & set(stored))
        print(
            f"{grid.name}: {len(grid.variants())} variants (varying {', '.join(grid.varying)}),"
            f" {len(costs)} runs ({done} of the first phase already in {out / 'runs.jsonl'}, "
            f"counted too), {sum(costs) / 3600:.2f} core-hours; projected wall time on "
            f"{workers} workers: {hms(wall)} (measured step times, tinybgn.experiments.timing)"
            + pace_note(stored, [ds for ds, _, _ in planned.values()], wall),
            file=stream,
        )
        return {"runs": len(costs), "core_seconds": sum(costs), "projected_wall_seconds": wall}

    phase1 = search_specs(grid, data_for)
    tic = time.monotonic()
    with JsonlStore(out / "runs.jsonl") as store, executor_for(executor, workers) as pool:
        keys = grid.varying

        def sweep(specs, label):
            missing = len({s.id for s in specs} - set(store.records))
            progress = Progress(missing, label, quiet, stream, keys=keys)
            run_sweep(specs, store, data_dir=data_dir, executor=pool, progress=progress)

        sweep(phase1, "search: " if grid.search else "")
        best = None
        if grid.search is not None:
            best = best_lrs(grid, data_for, store)
            sweep(final_specs(grid, data_for, best), "final: ")
        records = list(store.records.values())  # also runs of other grids in this folder
    protocol = sweep_protocol(grid, planned, workers)
    write_json(out / f"protocol-{grid.name}.json", protocol)  # kept: protocol.json is rebuilt
    write_json(out / "protocol.json", protocol)
    report = build_report(records, out, protocol=protocol)
    if not quiet:
        print(f"sweep written to {out} ({hms(time.monotonic() - tic)})", file=stream)
    return {**report, "runs": len(records), "best": best}


def sweep_protocol(grid: Grid, planned: dict, workers: int) -> dict:
    """What a sweep ran on: the grid as read, the LR search, each dataset's description and
    the machine (a report names the data source from it)."""
    from dataclasses import asdict

    from tinybgn.experiments.jobs import code_version, machine_info

    datasets = []
    for ds, _, warning in planned.values():
        counts = np.bincount(ds.y_test, minlength=10)
        datasets.append(
            {
                **ds.info,
                "source": data_source(ds.info),
                "carved_split_warning": warning,
                "majority_class_baseline": float(counts.max() / counts.sum()),
            }
        )
    return {
        "grid": grid.name,
        "study": grid.study,
        "fixed": grid.fixed,
        "axes": grid.axes,
        "seeds": grid.seeds,
        "seed_keys": list(grid.seed_keys),
        "lr_search": None if grid.search is None else asdict(grid.search),
        # read by tinybgn report to tell search runs (run < search_runs) from final runs
        "preset": {"search_runs": None if grid.search is None else grid.search.runs},
        "selection": None if grid.search is None else grid.search.selection,
        "epochs": grid.fixed.get("epochs", grid.axes.get("epochs")),
        # the dataset (the first, if the grid varies it) and each one, as tinybgn report reads it
        "data": datasets[0],
        "datasets": datasets,
        "execution": {"workers": workers, "finished": _now()},
        "versions": {"git_commit": code_version(), **machine_info()},
    }


def _cost(spec: JobSpec, ds) -> float:
    n_eval = ds.info["n_test"] + (ds.info.get("n_val") or 0) / max(spec.epochs, 1)
    return estimate_run_seconds(spec, ds.info["n_train"], n_eval)
