"""How much of a trained network's step time is spent on subnormal numbers, and where they are.

NumPy computes with IEEE gradual underflow: a float32 below 1.2e-38 (``finfo.tiny``) is kept as a
*subnormal* number, which x86 CPUs handle 10-100x slower than a normal one. TensorFlow, and so
Keras (the framework tinybgn assumes for the paper), runs its kernels with the CPU's
flush-to-zero (FTZ) and denormals-are-zero (DAZ) flags set: its thread pool sets them in every
thread it starts (``port::ScopedFlushDenormal`` in ``tensorflow/core/platform/threadpool.cc``).
A plain deep network whose gradients vanish computes its backward pass on subnormals here and on
zeros there, so seconds per epoch of *trained* runs compare arithmetic, not methods.

For each config this script trains ``tinybgn.mlp(784, [64] * depth, 10, activation, bgn=...)``
for ``--steps`` Adam steps on seeded batches of real images, then

1. **counts**, per Dense layer, the share of subnormal entries (0 < |x| < tiny) in delta^(K) on a
   probe batch (``tinybgn.probes.dense_deltas``), in the weight gradient, in its square (what
   Adam adds to ``v``; |g| < sqrt(tiny) = 1.1e-19 gives a subnormal g^2) and in Adam's ``m`` and
   ``v`` (``m`` is flushed every 8th step since eea7c71, ``v`` is not);
2. **times** the same training steps from the same saved state, alternately (A B B A ...) with
   NumPy's IEEE arithmetic and with FTZ and DAZ set in this thread, and gives the medians and
   the median of the per-pair ratios FTZ / IEEE. The weights and Adam's state are restored after
   every sample, so both modes time the same steps. With one BLAS thread
   (``OPENBLAS_NUM_THREADS=1``, set below before NumPy loads) every operation runs in this thread.

FTZ and DAZ are set through glibc's ``fegetenv``/``fesetenv`` (the MXCSR register is the last
field of x86-64's ``fenv_t``), so the timing needs x86-64 Linux. It is a measurement only:
tinybgn never trains with the flags set, since BGN and the gradient probes use the subnormal
deltas.

    python benchmarks/bench_subnormals.py --dataset fashion-mnist --steps 2000 \
        --json docs/results/bench/subnormals-trained.json
    python benchmarks/bench_subnormals.py --quick                # smoke run, seconds
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402 (after the BLAS thread count)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tinybgn  # noqa: E402
from tinybgn.probes import dense_deltas  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import cpu_model  # noqa: E402

MXCSR_FTZ, MXCSR_DAZ = 0x8000, 0x0040  # flush-to-zero (bit 15), denormals-are-zero (bit 6)


class FlushToZero:
    """Set (or clear) the x86 FTZ and DAZ flags of this thread: ``with FlushToZero(): ...``."""

    def __init__(self, on: bool = True) -> None:
        if platform.machine() not in ("x86_64", "AMD64") or sys.platform != "linux":
            raise SystemExit("bench_subnormals: setting FTZ/DAZ needs x86-64 Linux (glibc)")
        self.libm = ctypes.CDLL(ctypes.util.find_library("m"))
        self.env = (ctypes.c_uint32 * 8)()  # fenv_t: 28 bytes of x87 state, then MXCSR
        self.on = on

    def __enter__(self):
        if self.libm.fegetenv(self.env) != 0:
            raise OSError("fegetenv failed")
        self.saved = self.env[7]
        flags = MXCSR_FTZ | MXCSR_DAZ
        self.env[7] = (self.saved | flags) if self.on else (self.saved & ~flags)
        if self.libm.fesetenv(self.env) != 0:
            raise OSError("fesetenv failed")
        return self

    def __exit__(self, *exc) -> None:
        self.env[7] = self.saved
        self.libm.fesetenv(self.env)


def subnormal_share(a: np.ndarray, dtype=np.float32) -> float:
    """Share of the entries of ``a`` with 0 < |a| < tiny of ``dtype`` (float32's 1.2e-38)."""
    tiny = np.finfo(dtype).tiny
    x = np.abs(a)
    return float(np.count_nonzero((x > 0) & (x < tiny)) / x.size)


def load_batches(dataset: str, batch: int, count: int):
    """Up to ``count`` seeded batches of real training images (as bench_engine.py takes them)."""
    from tinybgn.data import load_dataset

    fallback = "sample" if dataset == "mnist" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # carved split / embedded sample: fine for timing
        ds = load_dataset(dataset, download=False, fallback=fallback)
    order = np.random.default_rng(0).permutation(len(ds.x_train))
    starts = range(0, min(count, len(order) // batch) * batch, batch)
    return [(ds.x_train[order[i : i + batch]], ds.y_train[order[i : i + batch]]) for i in starts]


def measure(activation, bgn, depth, batch, steps, lr, batches, probe, repeats, sample_s) -> dict:
    model = tinybgn.mlp(784, [64] * depth, 10, activation, False, bgn)
    opt = tinybgn.Adam(model.parameters(), lr=lr)
    count = 0

    def step() -> None:
        nonlocal count
        x, y = batches[count % len(batches)]
        count += 1
        _, dlogits = tinybgn.softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits, input_grad=False)
        opt.step()

    for _ in range(steps):
        step()

    # 1. where the subnormals are, per Dense layer (input side first)
    deltas = dense_deltas(model, *probe)
    grads = [g for (_, g) in opt.pairs]  # the last step's gradients (coalesced buffers)
    weight_grads = [layer.grads["W"] for layer in model.layers if isinstance(layer, tinybgn.Dense)]
    census = {
        "delta": [subnormal_share(d) for d in deltas],
        "delta_zero": [float(np.mean(d == 0)) for d in deltas],
        "dW": [subnormal_share(g) for g in weight_grads],
        "dW_squared": [subnormal_share(np.square(g)) for g in weight_grads],
        "m": subnormal_share(np.concatenate([a.ravel() for a in opt.m])),
        "v": subnormal_share(np.concatenate([a.ravel() for a in opt.v])),
        "all_grads": subnormal_share(np.concatenate([g.ravel() for g in grads])),
    }

    # 2. the same steps from the same state, IEEE vs FTZ/DAZ
    saved = [a.copy() for a in [*(p for p, _ in opt.pairs), *opt.m, *opt.v]]
    live = [*(p for p, _ in opt.pairs), *opt.m, *opt.v]
    t0, count0 = opt.t, count

    def restore() -> None:
        nonlocal count
        for a, s in zip(live, saved, strict=True):
            np.copyto(a, s)
        opt.t, count = t0, count0

    start = time.perf_counter()
    step()
    restore()
    n = max(1, round(sample_s / (time.perf_counter() - start)))
    samples = {"ieee": [], "ftz": []}
    order = ("ieee", "ftz", "ftz", "ieee")
    for i in range(repeats * 2):
        mode = order[i % 4]
        with FlushToZero(on=mode == "ftz"):
            start = time.perf_counter()
            for _ in range(n):
                step()
            samples[mode].append((time.perf_counter() - start) / n)
        restore()
    ratios = [f / s for f, s in zip(samples["ftz"], samples["ieee"], strict=True)]
    return {
        "activation": activation,
        "bgn": bgn,
        "depth": depth,
        "batch": batch,
        "steps_trained": steps,
        "lr": lr,
        "steps_per_sample": n,
        "median_ms": {k: 1e3 * statistics.median(v) for k, v in samples.items()},
        "ratio_ftz_over_ieee": statistics.median(ratios),
        "census": census,
    }


def summary(census: dict) -> str:
    layers = len(census["delta"])
    with_sub = sum(s > 0 for s in census["delta"])
    return (
        f"delta: {with_sub}/{layers} layers with subnormals, mean share "
        f"{np.mean(census['delta']):.3f} (exact 0: {np.mean(census['delta_zero']):.3f}); "
        f"dW {np.mean(census['dW']):.3f}, dW^2 {np.mean(census['dW_squared']):.3f}; "
        f"m {census['m']:.3f}, v {census['v']:.3f}"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--configs",
        nargs="+",
        default=[f"{a}:{n}" for a in ("relu", "sigmoid", "tanh") for n in ("none", "bgn")],
        help="activation:none|bgn (default: all six no-BN cells of fashion-full)",
    )
    p.add_argument("--depth", type=int, default=90)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=2000, help="Adam steps before measuring")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam's learning rate (1e-4)")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--repeats", type=int, default=11, help="samples per mode")
    p.add_argument("--sample-seconds", type=float, default=0.5)
    p.add_argument("--quick", action="store_true", help="a few seconds: depth 8, 20 steps")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.depth, args.steps, args.repeats, args.sample_seconds = 8, 20, 3, 0.02
        args.configs = ["sigmoid:none", "sigmoid:bgn"]
    configs = []
    for c in args.configs:
        activation, _, norm = c.partition(":")
        if activation not in ("relu", "sigmoid", "tanh") or norm not in ("none", "bgn"):
            p.error(f"config {c!r}: expected activation:none|bgn, e.g. relu:bgn")
        configs.append((activation, norm == "bgn"))
    batches = load_batches(args.dataset, args.batch, max(args.steps, 1) + 10_000)
    probe = (
        np.concatenate([x for x, _ in batches[-8:]]),
        np.concatenate([y for _, y in batches[-8:]]),
    )
    print(
        f"depth {args.depth}, batch {args.batch}, {args.steps} Adam steps at lr {args.lr} on "
        f"{args.dataset}; then ms per step, IEEE vs FTZ+DAZ (same steps, same state)"
    )
    results = []
    for activation, bgn in configs:
        r = measure(
            activation,
            bgn,
            args.depth,
            args.batch,
            args.steps,
            args.lr,
            batches,
            probe,
            args.repeats,
            args.sample_seconds,
        )
        results.append(r)
        m = r["median_ms"]
        name = f"{activation}{'+BGN' if bgn else ''}"
        print(
            f"{name:<12} IEEE {m['ieee']:7.2f} ms  FTZ {m['ftz']:7.2f} ms  "
            f"FTZ/IEEE {r['ratio_ftz_over_ieee']:.2f}   {summary(r['census'])}",
            flush=True,
        )
    if args.json:
        out = {
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "cpu": cpu_model(),
            "results": results,
        }
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
