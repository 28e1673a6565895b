"""Experiments: regenerate the paper's evidence (Figures 1-3, Table 1, timings) and the eps study.

Modules: ``presets`` (sizes: paper / quick / smoke), ``jobs`` (a run as a job with a
deterministic id, the JSONL store, the resumable sweep over any ``concurrent.futures``
executor), ``table1`` (learning-rate search, aggregation, markdown), ``eps_sweep`` (Adam's eps
vs BGN), ``figures`` (matplotlib), ``report`` (``reproduce``: all of it into one folder),
``cli`` (``tinybgn train`` and ``tinybgn reproduce``).

From Python::

    from tinybgn.experiments import get_preset, reproduce
    reproduce(get_preset("smoke"), "runs/smoke", workers=2)

    # a cluster instead of local processes (any concurrent.futures.Executor):
    # from dask.distributed import Client
    # reproduce(get_preset("paper"), "runs/paper", executor=Client(...).get_executor())
"""

from tinybgn.experiments.jobs import (
    JobSpec,
    JsonlStore,
    SweepError,
    comparable,
    derive_seed,
    load_comparable,
    run_job,
    run_sweep,
)
from tinybgn.experiments.presets import PRESETS, Preset, get_preset
from tinybgn.experiments.report import reproduce

__all__ = [
    "PRESETS",
    "JobSpec",
    "JsonlStore",
    "Preset",
    "SweepError",
    "comparable",
    "derive_seed",
    "get_preset",
    "load_comparable",
    "reproduce",
    "run_job",
    "run_sweep",
]
