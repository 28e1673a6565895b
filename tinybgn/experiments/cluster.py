"""Sweeps on a Dask cluster: the same runs, the same records, spread over many machines.

``run_sweep`` and ``reproduce`` take any ``concurrent.futures.Executor``; for Dask's
``distributed`` (``pip install "tinybgn[dask]"``) use :func:`dask_executor`, which also makes
every worker - those present now and those that join later - use one BLAS thread, as the local
pool's workers do (bit-identical records need the same thread count, and N threads per run on a
machine running N runs oversubscribe its cores)::

    from dask.distributed import Client, LocalCluster
    from tinybgn.experiments import get_preset, reproduce
    from tinybgn.experiments.cluster import dask_executor

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # or Client("tcp://...")
    reproduce(get_preset("standard"), "runs/standard", executor=dask_executor(client))

Run one task per worker process (``threads_per_worker=1``): a run is CPU-bound NumPy. The
workers must import the same tinybgn (its commit is recorded in every run) and find the data
(``data_dir`` or ``TINYBGN_DATA``); the store is written by the process that submits the runs,
so a killed client resumes like a local sweep.
"""

from __future__ import annotations

from concurrent.futures import Executor

from tinybgn.experiments.jobs import BLAS_SINGLE_THREAD, single_thread_blas


def _plugin_class():
    from distributed import WorkerPlugin

    class SingleThreadBLAS(WorkerPlugin):
        """Sets the worker's environment and its loaded BLAS to one thread at worker start."""

        name = "tinybgn-single-thread-blas"

        def setup(self, worker) -> None:
            import os

            os.environ.update(BLAS_SINGLE_THREAD)  # for libraries loaded later
            single_thread_blas()  # for the BLAS NumPy has loaded already

    return SingleThreadBLAS


def dask_executor(client) -> Executor:
    """``client.get_executor()`` after registering a worker plugin that sets one BLAS thread
    on every worker of ``client`` (present and future)."""
    client.register_plugin(_plugin_class()(), name="tinybgn-single-thread-blas")
    return client.get_executor()


__all__ = ["dask_executor"]
