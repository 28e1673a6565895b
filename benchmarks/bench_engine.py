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

    python benchmarks/bench_engine.py                           # depth 90, batches 32 128
    python benchmarks/bench_engine.py --base 31868ea --repeats 41 --json /tmp/engine.json
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
def worker(src: str, depth: int, batch: int, bgn: bool) -> None:
    sys.path.insert(0, src)
    import numpy as np

    import tinybgn

    assert Path(tinybgn.__file__).resolve().is_relative_to(Path(src).resolve()), tinybgn.__file__
    model = tinybgn.mlp(784, [64] * depth, 10, "relu", False, bgn)
    opt = tinybgn.Adam(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784)).astype(np.float32)
    labels = rng.integers(0, 10, size=batch)

    def step() -> None:
        logits = model.forward(x)
        _, dlogits = tinybgn.softmax_cross_entropy(logits, labels)
        model.backward(dlogits, input_grad=False)
        opt.step()

    for _ in range(5):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            step()
        print(time.perf_counter() - start, time.process_time() - cpu, flush=True)


class Worker:
    def __init__(self, src: Path, depth: int, batch: int, bgn: bool) -> None:
        cmd = [sys.executable, __file__, "--worker", str(src), str(depth), str(batch), str(bgn)]
        env = dict(os.environ, PYTHONPATH="")  # only ``src`` decides which tinybgn is imported
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.proc.stdout.readline().strip() == "ready"

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


def measure(before: Path, after: Path, depth, batch, bgn, repeats, sample_s) -> dict:
    workers = {
        "before": Worker(before, depth, batch, bgn),
        "after": Worker(after, depth, batch, bgn),
    }
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
        src, depth, batch, bgn = sys.argv[2:6]
        worker(src, int(depth), int(batch), bgn == "True")
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="main", help="the 'before' commit (default: main)")
    p.add_argument("--depths", type=int, nargs="+", default=[90])
    p.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    p.add_argument("--configs", nargs="+", default=["bgn", "plain"], choices=["bgn", "plain"])
    p.add_argument("--repeats", type=int, default=31)
    p.add_argument("--sample-seconds", type=float, default=0.25)
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
                    )
                    r["config"] = config
                    results.append(r)
                    m = r["median_ms"]
                    print(
                        f"{depth:>5} {batch:>5} {config:<6} {m['before']:>10.3f} "
                        f"{m['after']:>9.3f} {r['ratio_after_over_before']:.3f}  "
                        f"({r['cpu_ratio_after_over_before']:.3f})",
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
