"""End-to-end training throughput: one epoch of the paper's MLP on the full Fashion-MNIST train set.

60,000 images of 28x28 pixels, scaled to [0, 1] and flattened to 784 features, shuffled, in
batches (the last one smaller), each a full training step: forward, softmax cross-entropy,
backward, Adam. Reports samples per second over the epoch (data shuffling and batch gathering
included) and peak memory:

* ``tracemalloc_peak_mb``: the largest amount of memory allocated by Python and NumPy at once
  *during* training steps (measured on separate steps, since tracing slows allocations);
* ``max_rss_mb``: the process's peak resident memory (the dataset, NumPy, BLAS and all).

    python benchmarks/bench_epoch.py                        # 90 x 64 ReLU + BGN, batch 128
    python benchmarks/bench_epoch.py --config bn --batch 32 --json docs/results/bench/epoch.json
    python benchmarks/bench_epoch.py --limit 2000           # a short smoke run
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import machine  # noqa: E402  (benchmarks/machine.py, beside this script)

import tinybgn  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist"
CONFIGS = {
    "plain": (False, False),
    "bgn": (False, True),
    "bn": (True, False),
    "bn+bgn": (True, True),
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as an array: ``tinybgn.data.read_idx`` when it exists, else
    a minimal reader (magic: 2 zero bytes, a type code, the number of dimensions; then one
    big-endian uint32 per dimension; then the data, here always unsigned bytes)."""
    try:
        from tinybgn.data import read_idx as tinybgn_read_idx
    except ImportError:
        tinybgn_read_idx = None
    if tinybgn_read_idx is not None:
        return tinybgn_read_idx(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if raw[0:2] != b"\0\0" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_train(data_dir: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(data_dir / "train-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / "train-labels-idx1-ubyte.gz").astype(np.int64)
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return x, labels


def run(args) -> dict:
    if args.threads and not machine.set_blas_threads(args.threads):
        print("warning: could not set NumPy's BLAS threads", file=sys.stderr)
    x, y = load_train(args.data, args.limit)
    batchnorm, bgn = CONFIGS[args.config]
    model = tinybgn.mlp(x.shape[1], [64] * args.depth, 10, "relu", batchnorm, bgn, seed=0)
    opt = tinybgn.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(0)

    def train_steps(order: np.ndarray) -> float:
        loss = float("nan")
        for start in range(0, len(order), args.batch):
            idx = order[start : start + args.batch]
            logits = model.forward(x[idx])
            loss, dlogits = tinybgn.softmax_cross_entropy(logits, y[idx])
            model.backward(dlogits, input_grad=False)
            opt.step()
        return loss

    train_steps(rng.permutation(len(x))[: 5 * args.batch])  # warm-up: buffers, BLAS threads
    start = time.perf_counter()
    last_loss = train_steps(rng.permutation(len(x)))
    seconds = time.perf_counter() - start

    tracemalloc.start()
    tracemalloc.reset_peak()
    train_steps(rng.permutation(len(x))[: 20 * args.batch])
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    result = {
        "benchmark": "one training epoch (shuffle, gather, forward, loss, backward, Adam)",
        "dataset": f"Fashion-MNIST train ({len(x)} samples) from {args.data}",
        "network": f"784 -> {args.depth} x 64 ReLU -> 10, {args.config}, float32",
        "batch": args.batch,
        "epoch_seconds": seconds,
        "samples_per_second": len(x) / seconds,
        "steps": -(-len(x) // args.batch),
        "ms_per_step": 1e3 * seconds / -(-len(x) // args.batch),
        "last_batch_loss": last_loss,
        "tracemalloc_peak_mb": traced_peak / 2**20,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,
        "parameters": model.num_parameters(),
        "machine": machine.machine_info(),
    }
    return result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the IDX .gz files")
    p.add_argument("--config", default="bgn", choices=list(CONFIGS))
    p.add_argument("--depth", type=int, default=90)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--limit", type=int, default=0, help="use only the first N images (smoke)")
    p.add_argument("--threads", type=int, default=0, help="NumPy BLAS threads (0 = as is)")
    p.add_argument("--json", type=Path, help="write the result here as JSON")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = run(args)
    print(
        f"{result['network']}, batch {result['batch']}: {result['samples_per_second']:,.0f} "
        f"samples/s ({result['epoch_seconds']:.2f} s per epoch, {result['ms_per_step']:.2f} "
        f"ms per step); peak traced memory {result['tracemalloc_peak_mb']:.1f} MB, "
        f"peak RSS {result['max_rss_mb']:.0f} MB"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
