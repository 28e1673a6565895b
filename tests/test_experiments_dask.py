"""Scale-out (issue 11 item 7): a sweep on a Dask LocalCluster of 2 worker processes gives the
same records as the local pool, and resumes after a truncated store."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tinybgn.experiments import JobSpec, JsonlStore, derive_seed, load_comparable, run_sweep

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")


def _specs() -> list[JobSpec]:
    return [
        JobSpec(
            study="dask",
            activation="tanh",
            depth=4,
            batchnorm=r % 2 == 1,
            bgn=r % 3 == 0,
            lr=1e-3,
            seed=derive_seed("dask", r),
            run=r,
            epochs=1,
            batch_size=32,
            dataset="mnist",
            data_split="carve",
            n_train=300,
            n_test=100,
            n_val=100,
            optimizer="sgd" if r == 4 else "adam",
        )  # fmt: skip
        for r in range(6)
    ]


def test_dask_cluster_gives_the_local_records_and_resumes(shared_data, tmp_path):
    from tinybgn.experiments.cluster import dask_executor

    mnist = str(shared_data / "mnist")
    local, remote = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    with JsonlStore(local) as store:
        run_sweep(_specs(), store, data_dir=mnist, workers=2)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        executor = dask_executor(client)
        with JsonlStore(remote) as store:
            records = run_sweep(_specs(), store, data_dir=mnist, executor=executor)
        assert {r["worker"]["pid"] for r in records} <= set(
            client.run(lambda: __import__("os").getpid()).values()
        )  # the runs ran on the cluster's worker processes
        assert load_comparable(remote) == load_comparable(local)
        if importlib.util.find_spec("tinybgn.blas") is not None:  # the train helper's module
            assert {r["worker"]["blas_threads"] for r in records} == {1}

        data = remote.read_bytes()  # a client killed mid-append: the last line torn
        remote.write_bytes(data[: data.rfind(b"\n", 0, len(data) - 1) + 40])
        with JsonlStore(remote) as store:
            assert len(store) == 5
            run_sweep(_specs(), store, data_dir=mnist, executor=executor)
        assert load_comparable(remote) == load_comparable(local)
        assert Path(str(remote) + ".quarantine").exists()  # the torn line, kept
