"""Time one full training step (forward, loss, backward, Adam) of the paper's MLP.

For each depth (hidden layers of 64 units) and batch size, in the same run and interleaved
(each repetition times every candidate once, in a rotating order, so that drifts in machine load
hit all of them alike):

* ``tinybgn``: the package as the lessons use it, for plain / BGN / BN / BN+BGN (ReLU);
* ``torch``: PyTorch CPU eager, the same network (BGN as an autograd Function), with
  ``torch.optim.Adam`` as constructed by default and with its fused kernel (``fused=True`` where
  the CPU build supports it, else ``foreach=True``; the JSON says which), and as many threads as
  NumPy's BLAS;
* ``floor``: only the matrix products of the same step (forward ``x W^T``, eqs. 1 and 3 in the
  backward) on preallocated arrays in a tight loop: no framework can beat it on this BLAS.

It prints medians (ms per step) and the ratios tinybgn/torch, tinybgn/floor, BGN/plain and
BN/plain, and writes everything as JSON (``--json``). ``--quick`` is a few-seconds smoke run.

    python benchmarks/bench_step.py                      # depths 30 90 120, batches 32 128
    python benchmarks/bench_step.py --depths 90 --batches 128 --repeats 31
    python benchmarks/bench_step.py --quick --json /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import machine  # noqa: E402  (benchmarks/machine.py, beside this script)

import tinybgn  # noqa: E402

CONFIGS = {  # name -> (batchnorm, bgn)
    "plain": (False, False),
    "bgn": (False, True),
    "bn": (True, False),
    "bn+bgn": (True, True),
}
IN_FEATURES, WIDTH, CLASSES = 784, 64, 10


# -- candidates: each builder returns a function that runs one training step -----------------
def batch_data(batch: int, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, IN_FEATURES)).astype(dtype)  # like scaled pixels, in [0, 1)
    labels = rng.integers(0, CLASSES, size=batch)
    return x, labels


def tinybgn_step(depth: int, batch: int, config: str, dtype) -> Callable[[], float]:
    batchnorm, bgn = CONFIGS[config]
    model = tinybgn.mlp(IN_FEATURES, [WIDTH] * depth, CLASSES, "relu", batchnorm, bgn, dtype=dtype)
    opt = tinybgn.Adam(model.parameters(), lr=1e-4)
    x, labels = batch_data(batch, dtype)

    def step() -> float:
        logits = model.forward(x)
        loss, dlogits = tinybgn.softmax_cross_entropy(logits, labels)
        model.backward(dlogits, input_grad=False)  # training needs no dL/dx
        opt.step()
        return loss

    return step


def floor_step(depth: int, batch: int, dtype) -> Callable[[], None]:
    """Only the matrix products that a training step needs, with ``out=``: per Dense layer
    ``z = x W^T`` forward, then ``dW = delta^T x`` (eq. 1) and, except for the first layer
    (the input's own gradient is not needed to train), ``dx = delta W`` (eq. 3).

    The expressions are the engine's own (``x @ W.T`` on the transposed view, as in
    ``Dense.forward``). Inputs are fixed random arrays and results go to separate buffers:
    chaining the products would shrink or grow the values layer after layer into subnormal
    floats, which are far slower and would make the floor meaningless."""
    rng = np.random.default_rng(0)
    widths = [IN_FEATURES] + [WIDTH] * depth + [CLASSES]
    shapes = list(zip(widths[1:], widths, strict=False))  # (out, in) per Dense layer
    Ws = [rng.uniform(-1, 1, s).astype(dtype) for s in shapes]
    xs = [rng.uniform(-1, 1, (batch, i)).astype(dtype) for _, i in shapes]
    deltas = [rng.uniform(-1, 1, (batch, o)).astype(dtype) for o, _ in shapes]
    zs = [np.empty((batch, o), dtype) for o, _ in shapes]
    dxs = [np.empty((batch, i), dtype) for _, i in shapes]
    gWs = [np.empty_like(W) for W in Ws]
    layers = list(range(len(Ws)))

    def step() -> None:
        for k in layers:
            np.matmul(xs[k], Ws[k].T, out=zs[k])
        for k in reversed(layers):
            np.matmul(deltas[k].T, xs[k], out=gWs[k])  # eq. (1)
            if k > 0:
                np.matmul(deltas[k], Ws[k], out=dxs[k])  # eq. (3)

    return step


def torch_adam_kind(torch) -> str:
    """'fused' if this torch build runs the fused Adam on CPU, else 'foreach'."""
    p = torch.nn.Parameter(torch.zeros(2))
    try:
        opt = torch.optim.Adam([p], fused=True)
        p.grad = torch.ones(2)
        opt.step()
        return "fused"
    except (RuntimeError, TypeError, ValueError):
        return "foreach"


def torch_step(torch, depth: int, batch: int, config: str, adam: str) -> Callable[[], float]:
    batchnorm, bgn = CONFIGS[config]

    class BGNFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # eq. (4)
            return x.view_as(x)

        @staticmethod
        def backward(ctx, g):  # eq. (5)
            return g * (math.sqrt(g[0].numel()) / torch.linalg.vector_norm(g))

    class BGN(torch.nn.Module):
        def forward(self, x):
            return BGNFunction.apply(x)

    torch.manual_seed(0)
    modules, width = [], IN_FEATURES
    for _ in range(depth):
        modules.append(torch.nn.Linear(width, WIDTH))
        if batchnorm:
            modules.append(torch.nn.BatchNorm1d(WIDTH, eps=1e-3, momentum=0.01))
        if bgn:
            modules.append(BGN())
        modules.append(torch.nn.ReLU())
        width = WIDTH
    modules.append(torch.nn.Linear(width, CLASSES))
    net = torch.nn.Sequential(*modules).train()
    kwargs = {"default": {}, "fused": {"fused": True}, "foreach": {"foreach": True}}[adam]
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, eps=1e-7, **kwargs)
    x, labels = batch_data(batch, np.float32)
    x, labels = torch.from_numpy(x), torch.from_numpy(labels)
    cross_entropy = torch.nn.functional.cross_entropy

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = cross_entropy(net(x), labels)
        loss.backward()
        opt.step()
        return loss

    return step


# -- timing ------------------------------------------------------------------------------
def calibrate(step: Callable, target_s: float) -> int:
    """Steps per timed sample so that one sample lasts about ``target_s`` (after a warm-up)."""
    for _ in range(3):
        step()
    start = time.perf_counter()
    step()
    one = max(time.perf_counter() - start, 1e-6)
    return max(1, round(target_s / one))


def time_interleaved(
    candidates: dict[str, Callable], repeats: int, target_s: float, settle_s: float
) -> dict[str, list[float]]:
    """Seconds per step, ``repeats`` samples per candidate, candidates interleaved.

    The candidates fall into two thread pools: NumPy's BLAS (tinybgn, floor) and PyTorch's.
    Both keep their worker threads spinning for a while after each call (OpenBLAS for up to
    ~0.1 s by default), and a spinning pool of one library steals the cores that the other
    needs. So each repetition runs one pool's candidates, pauses ``settle_s`` for the other
    pool's threads to go to sleep, then runs the other's, alternating which goes first."""
    inner = {name: calibrate(step, target_s) for name, step in candidates.items()}
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    pools = [
        [n for n in candidates if not n.startswith("torch")],
        [n for n in candidates if n.startswith("torch")],
    ]
    pools = [p for p in pools if p]
    for r in range(repeats):
        for pool in pools if r % 2 == 0 else pools[::-1]:
            time.sleep(settle_s)
            for name in pool[r % len(pool) :] + pool[: r % len(pool)]:
                step, n = candidates[name], inner[name]
                start = time.perf_counter()
                for _ in range(n):
                    step()
                samples[name].append((time.perf_counter() - start) / n)
    return samples


def summarise(samples: list[float]) -> dict:
    ms = [1e3 * s for s in samples]
    q = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
    return {
        "median_ms": statistics.median(ms),
        "q1_ms": q[0],
        "q3_ms": q[2],
        "min_ms": min(ms),
        "n": len(ms),
    }


def run(args) -> dict:
    dtype = np.dtype(args.dtype)
    if args.threads:
        if not machine.set_blas_threads(args.threads):
            print("warning: could not set NumPy's BLAS threads", file=sys.stderr)
    blas = machine.blas_info()
    threads = blas.get("threads")
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print(
                "PyTorch is not installed: skipping the torch columns "
                "(pip install -e '.[oracle]' to compare)",
                file=sys.stderr,
            )
    adam_kind = None
    if torch is not None:
        if threads:
            torch.set_num_threads(int(threads))
        else:
            print(
                "warning: NumPy's BLAS thread count is unknown; torch keeps "
                f"{torch.get_num_threads()} threads",
                file=sys.stderr,
            )
        adam_kind = torch_adam_kind(torch)
    result = {
        "benchmark": "training step (forward, softmax cross-entropy, backward, Adam)",
        "network": f"784 -> depth x 64 ReLU -> 10, dtype {dtype.name}",
        "machine": machine.machine_info(),
        "settings": {
            "repeats": args.repeats,
            "settle_s": args.settle,
            "target_sample_s": args.sample_seconds,
            "configs": args.configs,
            "torch_fused_adam": adam_kind,
            "dtype": dtype.name,
        },
        "results": [],
    }
    for depth in args.depths:
        for batch in args.batches:
            candidates: dict[str, Callable] = {"floor": floor_step(depth, batch, dtype)}
            for config in args.configs:
                candidates[f"tinybgn/{config}"] = tinybgn_step(depth, batch, config, dtype)
                if torch is not None:
                    candidates[f"torch/{config}"] = torch_step(
                        torch, depth, batch, config, "default"
                    )
                    candidates[f"torch-{adam_kind}/{config}"] = torch_step(
                        torch, depth, batch, config, adam_kind
                    )
            samples = time_interleaved(
                candidates, args.repeats, args.sample_seconds, 0.0 if torch is None else args.settle
            )
            row = {
                "depth": depth,
                "batch": batch,
                "timings": {k: summarise(v) for k, v in samples.items()},
            }
            row["ratios"] = ratios(row["timings"], args.configs, adam_kind)
            result["results"].append(row)
            print_row(row, args.configs, adam_kind)
    result["machine"]["load_average_after"] = list(__import__("os").getloadavg())
    return result


def ratios(timings: dict, configs: list[str], adam_kind: str | None) -> dict:
    med = {k: v["median_ms"] for k, v in timings.items()}
    out = {}
    for config in configs:
        mine = med[f"tinybgn/{config}"]
        out[f"{config}/floor"] = mine / med["floor"]
        if f"torch/{config}" in med:
            out[f"{config}/torch"] = mine / med[f"torch/{config}"]
            out[f"{config}/torch-{adam_kind}"] = mine / med[f"torch-{adam_kind}/{config}"]
    for lib in ("tinybgn", "torch", f"torch-{adam_kind}"):
        for extra in ("bgn", "bn", "bn+bgn"):
            if f"{lib}/{extra}" in med and f"{lib}/plain" in med:
                out[f"{lib}: {extra}/plain"] = med[f"{lib}/{extra}"] / med[f"{lib}/plain"]
    if "bn+bgn" in configs and "bn" in configs:
        out["tinybgn: bn+bgn/bn"] = med["tinybgn/bn+bgn"] / med["tinybgn/bn"]
    return out


def print_row(row: dict, configs: list[str], adam_kind: str | None) -> None:
    t = {k: v["median_ms"] for k, v in row["timings"].items()}
    print(
        f"\ndepth {row['depth']}, batch {row['batch']}: median ms per step "
        f"(floor = matmuls only: {t['floor']:.3f} ms)"
    )
    fused = f"torch-{adam_kind}" if adam_kind else "(no torch)"
    header = f"  {'config':<8} {'tinybgn':>9} {'torch':>9} {fused:>14}"
    print(header + f" {'/torch':>8} {'/fused':>8} {'/floor':>8}")
    for c in configs:
        r = row["ratios"]
        line = f"  {c:<8} {t[f'tinybgn/{c}']:9.3f}"
        if f"torch/{c}" in t:
            line += f" {t[f'torch/{c}']:9.3f} {t[f'torch-{adam_kind}/{c}']:14.3f}"
            line += f" {r[f'{c}/torch']:8.2f} {r[f'{c}/torch-{adam_kind}']:8.2f}"
        else:
            line += f" {'-':>9} {'-':>14} {'-':>8} {'-':>8}"
        print(line + f" {r[f'{c}/floor']:8.2f}")
    extras = [f"{k} = {v:.3f}" for k, v in row["ratios"].items() if "/plain" in k or "/bn" in k]
    print("  overheads: " + ", ".join(e for e in extras if e.startswith("tinybgn")))
    others = [e for e in extras if not e.startswith("tinybgn")]
    if others:
        print("             " + ", ".join(others))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depths", type=int, nargs="+", default=[30, 90, 120])
    p.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--repeats", type=int, default=15, help="timed samples per candidate")
    p.add_argument(
        "--sample-seconds",
        type=float,
        default=0.06,
        help="length of one timed sample (steps per sample are calibrated)",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=0.2,
        help="pause (s) between the NumPy and PyTorch candidates, for idle threads to sleep",
    )
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="set NumPy's BLAS threads (and torch's) to this; 0 = leave as is",
    )
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch columns")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run in seconds: depth 10, batch 32, 3 short samples each",
    )
    p.add_argument("--json", type=Path, help="write the results here as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.depths, args.batches, args.repeats, args.sample_seconds = [10], [32], 3, 0.003
        args.settle = 0.02
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    return result


if __name__ == "__main__":
    main()
