"""Experiments: regenerate the paper's evidence (Figures 1-3, Table 1, timings) and the eps study.

Modules: ``spec`` (a run as a flat spec with a deterministic id), ``store`` (the JSONL run
store: lock, quarantine, read-only reads), ``jobs`` (running one spec; the resumable sweep over
any ``concurrent.futures`` executor), ``sweep`` (TOML grids: ``tinybgn sweep``), ``timing``
(measured step times for ``--dry-run``), ``presets`` (paper / standard / fashion-full / quick /
smoke, shipped as TOML grids in ``grids/``), ``table1`` (learning-rate search, aggregation,
markdown), ``eps_sweep`` (Adam's eps vs BGN), ``figures`` (matplotlib), ``report``
(``reproduce``: all of it into one folder),
``cli`` (``tinybgn train`` and ``tinybgn reproduce``).

From Python::

    from tinybgn.experiments import get_preset, reproduce
    reproduce(get_preset("smoke"), "runs/smoke", workers=2)

    # a cluster instead of local processes (any concurrent.futures.Executor):
    # from dask.distributed import Client
    # reproduce(get_preset("paper"), "runs/paper", executor=Client(...).get_executor())
"""

from tinybgn.experiments.jobs import (
    SweepError,
    comparable,
    derive_seed,
    load_comparable,
    run_job,
    run_sweep,
)
from tinybgn.experiments.presets import PRESETS, Preset, get_preset
from tinybgn.experiments.report import reproduce
from tinybgn.experiments.spec import JobSpec, SpecError
from tinybgn.experiments.store import JsonlStore, StoreError, read_records
from tinybgn.experiments.sweep import load_grid, run_grid

__all__ = [
    "PRESETS",
    "JobSpec",
    "JsonlStore",
    "Preset",
    "SpecError",
    "StoreError",
    "SweepError",
    "comparable",
    "derive_seed",
    "get_preset",
    "load_comparable",
    "load_grid",
    "read_records",
    "reproduce",
    "run_grid",
    "run_job",
    "run_sweep",
]
