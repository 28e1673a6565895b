"""Training runs as independent jobs: a spec, a deterministic id, a JSONL store, a resumable sweep.

* A :class:`JobSpec` says everything that determines a run's numbers (data, architecture,
  optimiser, epochs, batch size, seed). Its **id** is a hash of the spec, so the same run always
  has the same id, on any machine: ``sha256(canonical JSON of the spec)[:16]``.
* :func:`run_job` executes one spec (in a worker process): it loads the data, builds the network
  from the seed, trains it, evaluates it and returns a JSON-able record. It never raises for a
  diverged run: divergence is part of the record.
* :class:`JsonlStore` appends each record as one line of a JSONL file as soon as the run
  finishes (flushed and fsynced). A sweep that is killed loses at most the runs in flight; a
  torn last line is ignored and cut off before the next append.
* :func:`run_sweep` submits the specs that are not in the store yet to a
  ``concurrent.futures.Executor`` and stores the results as they complete. Rerunning the same
  command skips what is done.

**What "the same results" means.** Records are compared with :func:`comparable`, which drops
the fields that measure *time* or *where* a run ran (:data:`TIMING_FIELDS`), after sorting the
records by id. Everything else - accuracies, losses per epoch, divergence, probe values - is
bit-for-bit identical for identical seeds, because each job is seeded only by its spec and runs
with a single BLAS thread (sums in a fixed order) - *given the same engine code*. A change that
only reorders floating-point operations (a speed-up) changes the rounding, and 90-layer networks
amplify rounding into visibly different runs (we saw test accuracies move by up to 0.2), so every
record carries ``worker.tinybgn_commit``; a reused record from older code is thus visible.

**Executors.** By default a local ``ProcessPoolExecutor`` with ``workers`` processes, started
with the ``spawn`` method while ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` /
``MKL_NUM_THREADS`` are set to 1, so each fresh worker loads its BLAS single-threaded (with
``fork``, workers would inherit the parent's already-initialised multi-threaded BLAS, and N
workers x N threads oversubscribe the cores). Any object with the ``concurrent.futures.Executor``
interface can be passed instead - e.g. Dask distributed's ``Client(...).get_executor()`` to
spread the runs over a cluster. Then the workers must be able to import tinybgn, find the data at
``data_dir`` (or via ``TINYBGN_DATA``), and should set the same variables to 1 themselves.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinybgn.errors import TinyBGNError

#: Record fields that depend on the machine or the clock, not on the seeds (see ``comparable``).
TIMING_FIELDS = ("train_seconds", "seconds_per_epoch", "wall_seconds", "worker", "finished_at")

#: Environment that makes a freshly started worker's BLAS single-threaded.
BLAS_SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class SweepError(TinyBGNError, RuntimeError):
    """Some jobs of a sweep failed with an error (not divergence); rerun to retry them."""


def derive_seed(*parts: object) -> int:
    """A 32-bit seed from any JSON-able parts: ``int(sha256(json(parts))[:8], 16)``.

    E.g. ``derive_seed("table1", "relu", 90, 3)`` for run 3 of a 90-layer ReLU net; the same parts
    give the same seed on every machine and Python version (unlike ``hash()``).
    """
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class JobSpec:
    """Everything that determines one training run. ``study`` and ``run`` are labels.

    ``data_split`` is ``"standard"`` or ``"carve"`` (train/test carved out of one file, see
    :func:`tinybgn.data.load_dataset`); ``data_fingerprint`` identifies the files and split, so
    records made on different data never share an id. ``probe=True`` also measures gradient
    norms and weight changes (Figures 2 and 3) on ``probe_batch`` training examples.
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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> JobSpec:
        return cls(**d)

    @property
    def id(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def config(self) -> tuple[str, int, bool, bool]:
        """The Table 1 cell: (activation, depth, batchnorm, bgn)."""
        return (self.activation, self.depth, self.batchnorm, self.bgn)

    def describe(self) -> str:
        flags = f"BN{'+' if self.batchnorm else '-'} BGN{'+' if self.bgn else '-'}"
        extra = f" eps={self.adam_eps:.0e}" if self.study == "eps" else ""
        return (
            f"{self.study:<7} {self.activation:<7} d{self.depth:<3} {flags} "
            f"lr={self.lr:.2e}{extra} run {self.run}"
        )

    def cost(self) -> float:
        """Relative run time, for scheduling the longest jobs first."""
        per_layer = 1.0 + 1.2 * self.batchnorm + 0.2 * self.bgn
        return self.epochs * (self.n_train or 60000) * self.depth * per_layer


# -- data inside workers -------------------------------------------------------------------------
_DATA_CACHE: dict[tuple, object] = {}


def load_job_data(spec: JobSpec, data_dir: str | None):
    """The spec's dataset, loaded once per process and cached. Checks the fingerprint."""
    from tinybgn.data import CarvedSplitWarning, load_dataset

    key = (spec.dataset, data_dir, spec.data_split, spec.n_train, spec.n_test, spec.data_seed)
    if key not in _DATA_CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CarvedSplitWarning)
            ds = load_dataset(
                spec.dataset,
                data_dir,
                split=spec.data_split,
                n_train=spec.n_train,
                n_test=spec.n_test,
                seed=spec.data_seed,
            )
        found = data_fingerprint(ds.info)
        if spec.data_fingerprint and found != spec.data_fingerprint:
            raise TinyBGNError(
                f"job data differ from the planned data: fingerprint {found} != "
                f"{spec.data_fingerprint} ({ds.info.get('directory')}); point data_dir / "
                "TINYBGN_DATA at the same files on every worker"
            )
        _DATA_CACHE[key] = ds
    return _DATA_CACHE[key]


def data_fingerprint(info: dict) -> str:
    """Short hash of a dataset's file checksums and split description (not of its path)."""
    keys = ("name", "files", "split", "subsets", "seed", "n_train", "n_test", "permute_pixels")
    text = json.dumps({k: info.get(k) for k in keys}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def probe_batch(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed batch on which gradients are probed: ``size`` training examples chosen with
    ``default_rng(0)`` - the same batch for every network, so the curves are comparable."""
    index = np.sort(np.random.default_rng(0).permutation(len(x))[: min(size, len(x))])
    return x[index], y[index]


# -- one job -------------------------------------------------------------------------------------
def run_job(spec_dict: dict, data_dir: str | None = None) -> dict:
    """Run one training job and return its JSON-able record (called inside a worker).

    Record fields: ``id``, ``spec``, ``accuracy`` (test accuracy after the last epoch, None if
    diverged), ``test_loss``, ``top_class_fraction`` (share of test predictions in the
    most-predicted class), ``history`` (per epoch), ``diverged`` (None or where/when),
    ``train_seconds`` (sum of per-epoch training time), ``seconds_per_epoch`` (median),
    ``probe`` (only for probe jobs), and the timing/worker fields listed in TIMING_FIELDS.
    """
    from tinybgn.mlp import mlp
    from tinybgn.probes import dense_weights, gradient_norms, weight_change, with_bgn
    from tinybgn.train import train

    tic = time.perf_counter()
    spec = JobSpec.from_dict(spec_dict)
    ds = load_job_data(spec, data_dir)
    model = mlp(
        in_features=ds.x_train.shape[1],
        hidden=(spec.width,) * spec.depth,
        activation=spec.activation,
        batchnorm=spec.batchnorm,
        bgn=spec.bgn,
        seed=spec.seed,
    )
    w0 = dense_weights(model) if spec.probe else None
    history = train(
        model,
        ds.x_train,
        ds.y_train,
        ds.x_test,
        ds.y_test,
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        lr=spec.lr,
        eps=spec.adam_eps,
        seed=spec.seed,
    )
    final = history.final if history.diverged is None else None
    record = {
        "id": spec.id,
        "spec": spec.to_dict(),
        "accuracy": None if final is None else final.test_accuracy,
        "test_loss": None if final is None else final.test_loss,
        "top_class_fraction": None if final is None else final.top_class_fraction,
        "history": history.to_dict(),
        "diverged": history.diverged,
    }
    if spec.probe:
        xp, yp = probe_batch(ds.x_train, ds.y_train, spec.probe_batch)
        probe: dict = {"weight_change": weight_change(w0, model).tolist()}
        if history.diverged is None:
            variants = [(spec.bgn, model)] + ([] if spec.bgn else [(True, with_bgn(model))])
            for bgn, net in variants:
                norms = gradient_norms(net, xp, yp)
                probe[f"trained_bgn{int(bgn)}"] = {
                    "delta": norms["delta"].tolist(),
                    "weight": norms["weight"].tolist(),
                }
        record["probe"] = probe
    seconds = [e["seconds"] for e in record["history"]["epochs"]]
    record.update(
        train_seconds=float(sum(seconds)),
        seconds_per_epoch=float(np.median(seconds)) if seconds else None,
        wall_seconds=time.perf_counter() - tic,
        worker={
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
            "tinybgn_commit": code_version(),
        },
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    return record


@functools.cache
def code_version() -> str | None:
    """The git commit of the tinybgn code this process imported (``+dirty`` if modified), once
    per process. Performance-only engine changes alter float rounding, and deep networks amplify
    rounding into different final accuracies, so records say which code produced them."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "tinybgn"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


# -- the store -----------------------------------------------------------------------------------
class JsonlStore:
    """Append-only JSONL file of job records, one per line, keyed by ``record["id"]``.

    Opening the store cuts off a torn last line (left by a process killed mid-write), so the
    next append starts on a fresh line. Reading skips lines that are not valid JSON.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self.records: dict[str, dict] = {r["id"]: r for r in self._read()}

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(keep)

    def _read(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and "id" in record:
                    yield record

    def __contains__(self, job_id: str) -> bool:
        return job_id in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, job_id: str) -> dict | None:
        return self.records.get(job_id)

    def append(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True, allow_nan=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record["id"]] = record


def comparable(record: dict) -> dict:
    """``record`` without the fields that depend on timing or on the machine.

    Two runs of a sweep are "the same" when their records, sorted by id, are equal after this:
    same ids, same specs, same accuracies, losses, divergence and probe values.
    """
    out = {k: v for k, v in record.items() if k not in TIMING_FIELDS}
    history = dict(out.get("history") or {})
    history["epochs"] = [
        {k: v for k, v in e.items() if k != "seconds"} for e in history.get("epochs", [])
    ]
    out["history"] = history
    return out


def load_comparable(path: str | os.PathLike) -> list[dict]:
    """All records of a JSONL file, timing fields removed, sorted by id."""
    return sorted((comparable(r) for r in JsonlStore(path).records.values()), key=lambda r: r["id"])


# -- the sweep -----------------------------------------------------------------------------------
@contextmanager
def single_threaded_blas_env() -> Iterator[None]:
    """Set BLAS_SINGLE_THREAD in ``os.environ`` (inherited by workers started meanwhile)."""
    old = {k: os.environ.get(k) for k in BLAS_SINGLE_THREAD}
    os.environ.update(BLAS_SINGLE_THREAD)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Progress:
    """Prints one line per finished run: count, what ran, its result, elapsed time and ETA."""

    def __init__(self, total: int, label: str = "", quiet: bool = False, stream=None) -> None:
        self.total, self.label, self.quiet = total, label, quiet
        self.stream = stream or sys.stderr
        self.done, self.start = 0, time.monotonic()

    def __call__(self, spec: JobSpec, record: dict | None, error: str | None = None) -> None:
        self.done += 1
        if self.quiet:
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        if error is not None:
            result = f"ERROR {error.splitlines()[-1][:60]}"
        elif record["diverged"] is not None:
            d = record["diverged"]
            result = f"diverged (epoch {d['epoch']}, {d['stage']} layer {d['layer_index']})"
        else:
            result = f"acc {record['accuracy']:.4f} ({record['train_seconds']:.1f} s)"
        print(
            f"[{self.label}{self.done:>4}/{self.total}] {spec.describe()}: {result} | "
            f"elapsed {_hms(elapsed)}, ETA {_hms(eta)}",
            file=self.stream,
            flush=True,
        )


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def default_executor(workers: int) -> ProcessPoolExecutor:
    """A local pool of ``workers`` fresh (``spawn``) processes. Create it inside
    :func:`single_threaded_blas_env` so each worker's BLAS starts single-threaded."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def run_sweep(
    specs: Iterable[JobSpec],
    store: JsonlStore,
    *,
    data_dir: str | os.PathLike | None = None,
    executor: Executor | None = None,
    workers: int = 2,
    progress: Callable[[JobSpec, dict | None, str | None], None] | None = None,
    job: Callable[[dict, str | None], dict] = run_job,
) -> list[dict]:
    """Run every spec that ``store`` does not hold yet; return the records of all ``specs``.

    Jobs are submitted longest first (fewer idle workers at the end). Each record is appended to
    the store as soon as its run finishes. A diverged run is an ordinary record. A job that
    raises (a bug, missing data) is reported and skipped; after all others finish,
    :class:`SweepError` lists the failures (rerun the command to retry only those).

    ``executor``: any ``concurrent.futures.Executor``; it is used, not shut down. Without one, a
    local process pool of ``workers`` single-threaded-BLAS processes is created for the sweep.
    """
    specs = list(dict.fromkeys(specs))  # drop duplicates, keep order
    todo = sorted((s for s in specs if s.id not in store), key=lambda s: -s.cost())
    data_dir = None if data_dir is None else str(data_dir)
    failures: list[str] = []
    first_traceback = ""
    if todo:
        with executor_for(executor, workers) as pool:
            futures: dict[Future, JobSpec] = {
                pool.submit(job, spec.to_dict(), data_dir): spec for spec in todo
            }
            for future in as_completed(futures):
                spec = futures[future]
                error = future.exception()
                if isinstance(error, BrokenExecutor):
                    raise SweepError(
                        f"the executor broke ({type(error).__name__}: {error}); a worker process "
                        "died (out of memory? killed?). If you call run_sweep from a script, guard "
                        "it with `if __name__ == '__main__':` (workers are started with spawn). "
                        "Finished runs are stored; rerun to resume."
                    ) from error
                if error is not None:
                    if not failures:
                        first_traceback = "".join(traceback.format_exception(error))
                    failures.append(
                        f"{spec.describe()} [{spec.id}]: {type(error).__name__}: {error}"
                    )
                    if progress is not None:
                        progress(spec, None, f"{type(error).__name__}: {error}")
                    continue
                record = future.result()
                store.append(record)
                if progress is not None:
                    progress(spec, record, None)
    if failures:
        raise SweepError(
            f"{len(failures)} job(s) failed (the others are stored; rerun to retry):\n"
            + "\n".join(failures)
            + f"\nfirst traceback:\n{first_traceback}"
        )
    return [store.get(s.id) for s in specs]


@contextmanager
def executor_for(executor: Executor | None, workers: int) -> Iterator[Executor]:
    """``executor`` itself, or a fresh local pool (single-threaded BLAS) that is shut down on
    exit. Use one pool for several sweeps so all their runs use the code the workers imported
    at the start (an engine edited meanwhile cannot creep into later phases)."""
    if executor is not None:
        yield executor
        return
    with single_threaded_blas_env(), default_executor(workers) as pool:
        yield pool


def machine_info() -> dict:
    """Versions and hardware, for the protocol of a report."""
    import matplotlib

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
    }
