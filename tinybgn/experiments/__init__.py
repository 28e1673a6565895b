"""Experiments: regenerate the paper's evidence (Figures 1-3, Table 1, timings) and the eps study.

Modules: ``spec`` (a run as a flat spec with a deterministic id), ``store`` (the JSONL run
store: lock, quarantine, read-only reads), ``jobs`` (running one spec; the resumable sweep over
any ``concurrent.futures`` executor), ``sweep`` (TOML grids: ``tinybgn sweep``), ``timing``
(measured step times for ``--dry-run``), ``presets`` (paper / standard / fashion-full / quick /
smoke, shipped as TOML grids in ``grids/``), ``table1`` (Table 1's runs and the learning-rate
choice), ``eps_sweep`` (Adam's eps vs BGN runs), ``report`` (``reproduce``: runs, protocol,
then the report through ``analysis``), ``cluster`` (Dask), ``cli`` (``tinybgn reproduce`` and
``tinybgn sweep``); ``analysis``, ``stats``, ``claims``, ``figures`` and ``report_cli``
(``tinybgn report``) rebuild tables and figures from stored runs.

From Python::

    from tinybgn.experiments import get_preset, reproduce
    reproduce(get_preset("smoke"), "runs/smoke", workers=2)

    # a cluster instead of local processes (any concurrent.futures.Executor):
    # from dask.distributed import Client
    # from tinybgn.experiments.cluster import dask_executor
    # reproduce(get_preset("paper"), "runs/paper", executor=dask_executor(Client(...)))
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
