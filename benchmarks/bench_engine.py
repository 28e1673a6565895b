"""Before/after: one training step of the paper's MLP on two versions of tinybgn, same run.

The graph engine (tinybgn/graph.py) replaced the old chain-only ``Sequential`` loop. To measure
what that costs, this script exports another commit (default: ``main``) with ``git archive``
into a temporary folder and starts one worker process per version ("before" = that commit,
"after" = this checkout). The parent then asks them in turn, A B B A A B ..., for one timed
sample each (a calibrated number of steps, about ``--sample-seconds``), so a change of machine
load hits both alike. It prints medians (ms per step) and the median of the per-pair ratios
after/before, for wall time and for the workers' CPU time (``time.process_time``: on a loaded
machine it leaves out the time a worker waits for a core), and writes JSON (``--json``).

A step is what training does: ``forward``, softmax cross-entropy, ``backward(...,
input_grad=False)``, ``Adam.step()``, on ``tinybgn.mlp(784, [64] * depth, 10, "relu", bgn=...)``
built the same way in both versions.

``--trained STEPS``: time a *trained* network instead of a fresh one. Each worker first trains
STEPS steps on real digits (MNIST from ``TINYBGN_DATA`` or the embedded sample; ``--dataset
fashion-mnist`` needs the files), at ``--lr``, on the same seeded batches, and then times steps
that go on training. A fresh network hides what training does to the numbers: dead ReLU units
leave Adam's ``m`` decaying through the subnormals, which x86 computes with 10-100x slower
(the flush of eea7c71). Each worker reports the share of subnormal entries in ``m``.

    python benchmarks/bench_engine.py                           # depth 90, batches 32 128
    python benchmarks/bench_engine.py --base 31868ea --repeats 41 --json /tmp/engine.json
    python benchmarks/bench_engine.py --base 4dc981f --batches 32 --configs bgn \
        --trained 3000 --lr 3.162e-3 --dataset fashion-mnist    # the subnormal flush
    python benchmarks/bench_engine.py --quick                   # smoke run, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# -- the worker: one version of tinybgn, steps on request --------------------------------------
def worker(
    src: str, depth: int, batch: int, bgn: bool, trained: int, lr: float, dataset: str
) -> None:
    sys.path.insert(0, src)
    import warnings

    import numpy as np

    import tinybgn

    assert Path(tinybgn.__file__).resolve().is_relative_to(Path(src).resolve()), tinybgn.__file__
    model = tinybgn.mlp(784, [64] * depth, 10, "relu", False, bgn)
    opt = tinybgn.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    if trained:  # real digits, one seeded order, cycled: both versions see the same batches
        from tinybgn.data import load_dataset

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # carved split / embedded sample: fine for timing
            ds = load_dataset(
                dataset, download=False, fallback="sample" if dataset == "mnist" else None
            )
        order = rng.permutation(len(ds.x_train))
        n_batches = len(order) // batch
        xs = [ds.x_train[order[i * batch : (i + 1) * batch]] for i in range(n_batches)]
        ys = [ds.y_train[order[i * batch : (i + 1) * batch]] for i in range(n_batches)]
    else:  # one fixed random batch, as the engine comparisons have always used
        xs = [rng.random((batch, 784)).astype(np.float32)]
        ys = [rng.integers(0, 10, size=batch)]
    count = 0

    def step() -> None:
        nonlocal count
        x, labels = xs[count % len(xs)], ys[count % len(ys)]
        count += 1
        logits = model.forward(x)
        _, dlogits = tinybgn.softmax_cross_entropy(logits, labels)
        model.backward(dlogits, input_grad=False)
        opt.step()

    for _ in range(max(5, trained)):
        step()
    m = np.concatenate([a.ravel() for a in opt.m])
    subnormal = np.count_nonzero((m != 0) & (np.abs(m) < np.finfo(m.dtype).tiny)) / m.size
    print("ready", subnormal, flush=True)
    for line in sys.stdin:
        n = int(line)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            step()
        print(time.perf_counter() - start, time.process_time() - cpu, flush=True)


class Worker:
    def __init__(self, src: Path, depth: int, batch: int, bgn: bool, train: tuple) -> None:
        args = [src, depth, batch, bgn, *train]
        cmd = [sys.executable, __file__, "--worker", *map(str, args)]
        env = dict(os.environ, PYTHONPATH="")  # only ``src`` decides which tinybgn is imported
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):  # it died: its traceback went to stderr, above
            raise SystemExit(f"bench_engine: the worker for {src} failed before it was ready")
        share = line.split()[1]
        self.subnormal_share = float(share)  # of Adam's m, after the warm-up / training

    def time(self, n: int) -> tuple[float, float]:
        """(wall, CPU) seconds per step over ``n`` steps."""
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        wall, cpu = map(float, self.proc.stdout.readline().split())
        return wall / n, cpu / n

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def export(rev: str, into: Path) -> str:
    """``git archive`` of ``rev`` unpacked into ``into``; returns the full commit hash."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = into / "src.tar"
    with open(archive, "wb") as f:
        subprocess.run(["git", "-C", str(ROOT), "archive", sha], stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    return sha


def measure(before: Path, after: Path, depth, batch, bgn, repeats, sample_s, train) -> dict:
    workers = {
        "before": Worker(before, depth, batch, bgn, train),
        "after": Worker(after, depth, batch, bgn, train),
    }
    subnormal = {name: w.subnormal_share for name, w in workers.items()}
    try:
        one = max(workers["after"].time(3)[0], 1e-6)
        n = max(1, round(sample_s / one))
        wall = {"before": [], "after": []}
        cpu = {"before": [], "after": []}
        for r in range(repeats):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for name in order:
                w, c = workers[name].time(n)
                wall[name].append(w)
                cpu[name].append(c)
    finally:
        for w in workers.values():
            w.close()

    def pair_ratios(samples):
        return [a / b for a, b in zip(samples["after"], samples["before"], strict=True)]

    def quartiles(xs):
        return statistics.quantiles(xs, n=4) if len(xs) > 1 else xs

    return {
        "depth": depth,
        "batch": batch,
        "bgn": bgn,
        "steps_per_sample": n,
        "trained_steps": train[0],
        "lr": train[1],
        "dataset": train[2] if train[0] else None,
        "subnormal_share_of_m": subnormal,
        "median_ms": {k: 1e3 * statistics.median(v) for k, v in wall.items()},
        "min_ms": {k: 1e3 * min(v) for k, v in wall.items()},
        "ratio_after_over_before": statistics.median(pair_ratios(wall)),
        "ratio_quartiles": quartiles(pair_ratios(wall)),
        "cpu_median_ms": {k: 1e3 * statistics.median(v) for k, v in cpu.items()},
        "cpu_ratio_after_over_before": statistics.median(pair_ratios(cpu)),
        "cpu_ratio_quartiles": quartiles(pair_ratios(cpu)),
        "samples_s": wall,
        "cpu_samples_s": cpu,
    }


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        src, depth, batch, bgn, trained, lr, dataset = sys.argv[2:9]
        worker(src, int(depth), int(batch), bgn == "True", int(trained), float(lr), dataset)
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="main", help="the 'before' commit (default: main)")
    p.add_argument("--depths", type=int, nargs="+", default=[90])
    p.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    p.add_argument("--configs", nargs="+", default=["bgn", "plain"], choices=["bgn", "plain"])
    p.add_argument("--repeats", type=int, default=31)
    p.add_argument("--sample-seconds", type=float, default=0.25)
    p.add_argument(
        "--trained",
        type=int,
        default=0,
        metavar="STEPS",
        help="train STEPS steps on real digits before timing (default 0: fresh)",
    )
    p.add_argument("--lr", type=float, default=1e-4, help="Adam's learning rate (1e-4)")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--quick", action="store_true", help="a few seconds: depth 4, 3 repeats")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.depths, args.batches, args.configs, args.repeats = [4], [8], ["bgn"], 3
        args.sample_seconds = 0.02
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        sha = export(args.base, Path(tmp))
        print(f"before: {args.base} = {sha[:10]}   after: {ROOT}")
        print(
            f"{'depth':>5} {'batch':>5} {'config':<6} {'before ms':>10} {'after ms':>9} "
            "ratio  (CPU time: ratio)"
        )
        for depth in args.depths:
            for batch in args.batches:
                for config in args.configs:
                    r = measure(
                        Path(tmp) / "src",
                        ROOT,
                        depth,
                        batch,
                        config == "bgn",
                        args.repeats,
                        args.sample_seconds,
                        (args.trained, args.lr, args.dataset),
                    )
                    r["config"] = config
                    results.append(r)
                    m = r["median_ms"]
                    print(
                        f"{depth:>5} {batch:>5} {config:<6} {m['before']:>10.3f} "
                        f"{m['after']:>9.3f} {r['ratio_after_over_before']:.3f}  "
                        f"({r['cpu_ratio_after_over_before']:.3f})"
                        + (
                            f"  subnormal share of m: {r['subnormal_share_of_m']['before']:.3f} "
                            f"-> {r['subnormal_share_of_m']['after']:.3f}"
                            if args.trained
                            else ""
                        ),
                        flush=True,
                    )
    if args.json:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        out = {"before": sha, "after": head, "repeats": args.repeats, "results": results}
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
