"""Training runs as independent jobs: run one spec, compare records, sweep on any executor.

* A :class:`~tinybgn.experiments.spec.JobSpec` (module ``spec``) says everything that determines
  a run's numbers, as flat plain values; its **id** is a hash of the spec.
* :func:`run_job` executes one spec (in a worker process): it loads the data, builds the model,
  optimiser and gradient method the spec names (:func:`build_model`, :func:`build_optimizer`,
  :func:`build_grad_method`), trains, evaluates on validation and test, and returns a JSON-able
  record. It never raises for a diverged run: divergence is part of the record.
* :class:`~tinybgn.experiments.store.JsonlStore` (module ``store``) appends each record as one
  line of a JSONL file as soon as the run finishes (flushed and fsynced), under a lock.
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
record carries ``worker.tinybgn_commit`` and ``worker.blas_threads``. The same holds for the
BLAS kernel, which OpenBLAS picks for the CPU it runs on: the mechanism study's ReLU runs,
repeated on the same commit and NumPy a day later, differed within the first epochs; records
now also carry ``worker.blas_core``, ``worker.numpy`` and ``worker.cpu``.

**Executors.** By default a local ``ProcessPoolExecutor`` with ``workers`` processes, started
with the ``spawn`` method while ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` /
``MKL_NUM_THREADS`` are set to 1, so each fresh worker loads its BLAS single-threaded (with
``fork``, workers would inherit the parent's already-initialised multi-threaded BLAS, and N
workers x N threads oversubscribe the cores). Each worker runs :func:`worker_init`: it sets its
BLAS to one thread (where :mod:`tinybgn.blas` can) and watches its parent, exiting when the
parent dies (``kill -9`` of ``tinybgn reproduce`` leaves no orphans computing on). Any object
with the ``concurrent.futures.Executor`` interface can be passed instead - e.g. Dask
distributed's ``Client(...).get_executor()``. Then the workers must be able to import tinybgn and
find the data at ``data_dir`` (or via ``TINYBGN_DATA``); :func:`run_job` sets single-threaded
BLAS itself.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tinybgn.errors import NonFiniteError, TinyBGNError
from tinybgn.experiments.spec import JobSpec, SpecError
from tinybgn.experiments.store import JsonlStore, read_records

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


# -- data inside workers -------------------------------------------------------------------------
_DATA_CACHE: dict[tuple, object] = {}


def load_data(name: str, data_dir, *, download: bool = False, fallback: str | None = None, **kw):
    """:func:`tinybgn.data.load_dataset` with ``download`` / ``fallback`` passed on only where
    this version of it takes them (the embedded sample and automatic downloads are newer)."""
    from tinybgn.data import load_dataset

    accepted = inspect.signature(load_dataset).parameters
    if "fallback" in accepted:
        kw["fallback"] = fallback
    return load_dataset(name, data_dir, download=download, **kw)


def load_job_data(spec: JobSpec, data_dir: str | None):
    """The spec's dataset (train / validation / test), loaded once per process and cached.

    Workers never download; for MNIST they may fall back to the embedded sample, and the
    fingerprint check then tells whether that is the data the run was planned on.
    """
    key = (spec.dataset, data_dir, spec.data_split, spec.n_train, spec.n_val, spec.n_test,
           spec.data_seed)  # fmt: skip
    if key not in _DATA_CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # carved split, embedded sample: planned and reported
            ds = load_data(
                spec.dataset,
                data_dir,
                fallback="sample" if spec.dataset == "mnist" else None,
                split=spec.data_split,
                n_train=spec.n_train,
                n_test=spec.n_test,
                val_size=spec.n_val,
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
    """Short hash of a dataset's file checksums and split description (not of its path).
    The validation split enters only when there is one, so older fingerprints stay valid."""
    keys = ("name", "files", "split", "subsets", "seed", "n_train", "n_test", "permute_pixels")
    described = {k: info.get(k) for k in keys}
    if info.get("validation"):
        described["validation"] = info["validation"]
    text = json.dumps(described, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def probe_batch(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed batch on which gradients are probed: ``size`` training examples chosen with
    ``default_rng(0)`` - the same batch for every network, so the curves are comparable."""
    index = np.sort(np.random.default_rng(0).permutation(len(x))[: min(size, len(x))])
    return x[index], y[index]


# -- from a spec to objects ----------------------------------------------------------------------
def _takes(fn: Callable, name: str) -> bool:
    return name in inspect.signature(fn).parameters


def _builder(spec: JobSpec) -> tuple[Callable, dict]:
    """The builder function of ``spec`` and the options to pass beyond the basic ones: options
    at their defaults are not passed, so a builder that lacks a newer option still builds the
    runs that do not use it; one that is used but missing is a clear error."""
    import tinybgn

    builder = getattr(tinybgn, spec.builder, None)
    if builder is None:
        raise SpecError(f"builder {spec.builder!r} is not available in this tinybgn")
    options = {}
    for name, default in {"bgn_kappa": None, "bgn_every": 1, "bgn_scope": "batch"}.items():
        value = getattr(spec, name)
        if value != default:
            if not _takes(builder, name):
                raise SpecError(f"{spec.builder}() of this tinybgn has no option {name!r}")
            options[name] = value
    return builder, options


def build_model(spec: JobSpec, in_features: int, out_features: int = 10):
    """The network of ``spec``: ``tinybgn.mlp`` or ``tinybgn.residual_mlp`` with the spec's
    depth, width, activation, BN/BGN and BGN options, weights drawn from ``spec.seed``."""
    builder, options = _builder(spec)
    return builder(
        in_features=in_features,
        hidden=(spec.width,) * spec.depth,
        out_features=out_features,
        activation=spec.activation,
        batchnorm=spec.batchnorm,
        bgn=spec.bgn,
        seed=spec.seed,
        **options,
    )


def check_runnable(spec: JobSpec) -> None:
    """Raise SpecError now if this tinybgn cannot run ``spec`` (a builder, option, gradient
    method or monitor it lacks), so a sweep fails before training instead of per job."""
    _builder(spec)
    build_grad_method(spec)
    _monitor_hook(spec)


def build_optimizer(spec: JobSpec, model):
    """The optimiser of ``spec`` over ``model.parameters()``: Adam(lr, eps = adam_eps), plain
    SGD(lr) or SGD with momentum (lr, momentum)."""
    try:
        from tinybgn.optim import make_optimizer
    except ImportError:  # older tinybgn: the two classes directly
        from tinybgn.optim import SGD, Adam

        if spec.optimizer == "adam":
            return Adam(model.parameters(), lr=spec.lr, eps=spec.adam_eps)
        momentum = spec.momentum if spec.optimizer == "momentum" else 0.0
        return SGD(model.parameters(), lr=spec.lr, momentum=momentum)
    kwargs = {"adam": {"eps": spec.adam_eps}, "momentum": {"momentum": spec.momentum}}
    return make_optimizer(
        spec.optimizer, model.parameters(), spec.lr, **kwargs.get(spec.optimizer, {})
    )


def build_grad_method(spec: JobSpec):
    """The gradient method of ``spec`` (None for "none": the plain training loop)."""
    if spec.grad_method == "none":
        return None
    try:
        from tinybgn.grad_methods import make_grad_method
    except ImportError:
        raise SpecError(
            f"grad_method {spec.grad_method!r} needs tinybgn.grad_methods (not in this tinybgn)"
        ) from None
    kwargs = {"clip_norm": spec.clip_norm} if spec.grad_method == "clip" else {}
    return make_grad_method(spec.grad_method, **kwargs)


#: The per-layer monitor (issue 12, mechanism study): a function
#: ``training_monitor(model, optimizer, x, y, previous) -> dict`` in :mod:`tinybgn.probes`,
#: called at every epoch end on the probe batch with the previous epoch's result (or None);
#: its dicts form ``record["monitor"]``. Without it, monitored specs are refused before training
#: (:func:`check_runnable`), never stored without their monitor.
MONITOR_HOOK = "training_monitor"


def _monitor_hook(spec: JobSpec) -> Callable | None:
    if not spec.monitor:
        return None
    import tinybgn.probes

    hook = getattr(tinybgn.probes, MONITOR_HOOK, None)
    if hook is None:
        raise SpecError(f"monitor = true needs tinybgn.probes.{MONITOR_HOOK} (not in this tinybgn)")
    return hook


def _monitor(spec: JobSpec, model, optimizer, ds) -> tuple[list | None, Callable | None]:
    """``(record["monitor"] list, progress callback)`` for a monitored spec."""
    hook = _monitor_hook(spec)
    if hook is None:
        return None, None
    import tinybgn.probes

    if hasattr(tinybgn.probes, "snapshot_weights"):  # so epoch 1 gets its update size too
        tinybgn.probes.snapshot_weights(model)
    xp, yp = probe_batch(ds.x_train, ds.y_train, spec.probe_batch)
    epochs: list[dict] = []

    def at_epoch_end(epoch_record) -> None:
        previous = epochs[-1] if epochs else None
        epochs.append({"epoch": epoch_record.epoch, **hook(model, optimizer, xp, yp, previous)})

    return epochs, at_epoch_end


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def worker_info() -> dict:
    """Where a run ran: host, pid, BLAS threads and kernel, NumPy, CPU, tinybgn commit. A
    bit-identical rerun of a seed needs (at least) the same commit, thread count, BLAS kernel
    and NumPy (see :mod:`tinybgn.blas`), so a record names them all."""
    from tinybgn import blas

    info = blas.info()
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "blas_threads": info["num_threads"],
        "blas_threads_env": info["env"],
        "blas_core": info["core"],
        "numpy": np.__version__,
        "cpu": cpu_model(),
        "tinybgn_commit": code_version(),
    }


# -- one job -------------------------------------------------------------------------------------
def run_job(spec_dict: dict, data_dir: str | None = None) -> dict:
    """Run one training job and return its JSON-able record (called inside a worker).

    Record fields: ``id``, ``spec`` (all keys), ``accuracy`` (test accuracy after the last
    epoch, None if diverged), ``val_accuracy`` / ``val_loss`` (the same on the validation split;
    None without one), ``test_loss``, ``top_class_fraction`` (share of test predictions in the
    most-predicted class), ``history`` (per epoch), ``diverged`` (None or where/when),
    ``train_seconds`` (sum of per-epoch training time), ``seconds_per_epoch`` (median),
    ``probe`` (probe jobs: weight change, gradient norms per layer, eq. 9 proportionality),
    ``monitor`` (monitored jobs), and the fields of TIMING_FIELDS;
    ``worker`` holds host, pid, BLAS threads and kernel, NumPy, CPU and tinybgn_commit
    (:func:`worker_info`).
    """
    from tinybgn.probes import (
        ProbeError,
        bgn_proportionality,
        dense_weights,
        gradient_norms,
        weight_change,
        with_bgn,
    )
    from tinybgn.train import evaluate, train

    tic = time.perf_counter()
    spec = JobSpec.from_dict(spec_dict)
    ds = load_job_data(spec, data_dir)
    model = build_model(spec, in_features=ds.x_train.shape[1])
    optimizer = build_optimizer(spec, model)
    grad_method = build_grad_method(spec)
    monitor, at_epoch_end = _monitor(spec, model, optimizer, ds)
    w0 = dense_weights(model) if spec.probe else None
    extra = {} if grad_method is None else {"grad_method": grad_method}
    history = train(
        model,
        ds.x_train,
        ds.y_train,
        ds.x_test,
        ds.y_test,
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        seed=spec.seed,
        optimizer=optimizer,  # it holds lr (and Adam's eps)
        progress=at_epoch_end,
        **extra,
    )
    final = history.final if history.diverged is None else None
    val = None
    if final is not None and ds.x_val is not None:
        try:
            val = evaluate(model, ds.x_val, ds.y_val)
        except NonFiniteError:  # finite on test, not on validation: no validation score
            val = None
    record = {
        "id": spec.id,
        "spec": spec.to_dict(),
        "accuracy": None if final is None else final.test_accuracy,
        "val_accuracy": None if val is None else float(val["accuracy"]),
        "val_loss": None if val is None else float(val["loss"]),
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
            try:  # claim (i), eq. 9: BGN's delta against the plain delta of the same weights
                probe["proportionality"] = bgn_proportionality(model, xp, yp)
            except ProbeError:
                pass  # a graph (residual MLP): "before every activation" is not one place
        record["probe"] = probe
    if monitor is not None:
        record["monitor"] = monitor
    seconds = [e["seconds"] for e in record["history"]["epochs"]]
    record.update(
        train_seconds=float(sum(seconds)),
        seconds_per_epoch=float(np.median(seconds)) if seconds else None,
        wall_seconds=time.perf_counter() - tic,
        worker=worker_info(),
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
    """All records of a JSONL(.gz) file, timing fields removed, sorted by id. Read-only: the
    file is never changed (bad lines are skipped; :func:`read_records` lists them)."""
    records, _ = read_records(path)
    return sorted((comparable(r) for r in records.values()), key=lambda r: r["id"])


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

    def __init__(
        self, total: int, label: str = "", quiet: bool = False, stream=None, keys=None
    ) -> None:
        """``keys``: the spec keys that vary in the sweep; each line names their values."""
        self.total, self.label, self.quiet, self.keys = total, label, quiet, keys
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
        elif record["accuracy"] is None:  # 0 epochs: measured at initialisation
            result = "probed at initialisation"
        else:
            result = f"acc {record['accuracy']:.4f} ({record['train_seconds']:.1f} s)"
        print(
            f"[{self.label}{self.done:>4}/{self.total}] {spec.describe(self.keys)}: {result} | "
            f"elapsed {_hms(elapsed)}, ETA {_hms(eta)}",
            file=self.stream,
            flush=True,
        )


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def single_thread_blas() -> int | None:
    """Make this process's BLAS use one thread, where :mod:`tinybgn.blas` can; return the
    previous count (None if unknown or not settable)."""
    try:
        from tinybgn.blas import set_num_threads
    except ImportError:
        return None
    return set_num_threads(1)


def worker_init(parent_pid: int, poll_seconds: float = 0.5) -> None:
    """Run in every local worker at start: single-threaded BLAS, and exit when the parent dies.

    A worker busy with a 20-epoch run would otherwise go on computing for minutes after the
    parent was killed (``kill -9`` gives it no chance to stop its pool), and idle workers would
    wait forever. A daemon thread checks every ``poll_seconds`` whether the parent is still our
    parent (an orphan is re-parented, so ``os.getppid()`` changes) and ends the process with
    ``os._exit``: nothing of a dead parent's sweep is worth finishing, its store is not written.
    """
    single_thread_blas()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="tinybgn-parent-watch", daemon=True).start()


def default_executor(workers: int) -> ProcessPoolExecutor:
    """A local pool of ``workers`` fresh (``spawn``) processes running :func:`worker_init`.
    Create it inside :func:`single_threaded_blas_env` so each worker's BLAS starts
    single-threaded."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(os.getpid(),),
    )


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
    kinds = {(s.builder, s.bgn_kappa, s.bgn_every, s.bgn_scope, s.grad_method, s.monitor): s
             for s in todo}  # fmt: skip
    for spec in kinds.values():
        check_runnable(spec)
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

    from tinybgn.blas import info as blas_info

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        "blas_core": blas_info()["core"],
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
    }
