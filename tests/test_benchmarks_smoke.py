"""The benchmark scripts still run and write the fields that docs/performance.md reports.

A few seconds each, in quick mode. No speed is asserted here: timings on a shared 2-core machine
are too noisy for that (the numbers live in docs/performance.md and docs/results/bench/).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_bench_step_quick_writes_medians_and_ratios(tmp_path):
    out = tmp_path / "step.json"
    proc = run_script(str(BENCH / "bench_step.py"), "--quick", "--threads", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "median ms per step" in proc.stdout
    result = json.loads(out.read_text())
    assert result["machine"]["numpy"] and result["machine"]["cores"] >= 1
    assert "blas" in result["machine"] and "threads" in result["machine"]["blas"]
    [row] = result["results"]
    assert (row["depth"], row["batch"]) == (10, 32)
    timings, ratios = row["timings"], row["ratios"]
    for config in ("plain", "bgn", "bn", "bn+bgn"):
        stats = timings[f"tinybgn/{config}"]
        assert stats["median_ms"] > 0 and stats["n"] == 3
        assert ratios[f"{config}/floor"] > 0
    assert timings["floor"]["median_ms"] > 0
    for key in ("tinybgn: bgn/plain", "tinybgn: bn/plain", "tinybgn: bn+bgn/plain"):
        assert ratios[key] > 0
    if result["machine"]["torch"] is not None:  # the optional PyTorch columns
        kind = result["settings"]["torch_fused_adam"]
        assert kind in ("fused", "foreach")
        assert timings["torch/plain"]["median_ms"] > 0
        assert ratios[f"bgn/torch-{kind}"] > 0


def test_bench_step_runs_without_torch(tmp_path):
    out = tmp_path / "step.json"
    proc = run_script(
        str(BENCH / "bench_step.py"),
        "--quick",
        "--threads",
        "1",
        "--no-torch",
        "--configs",
        "plain",
        "bgn",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(out.read_text())["results"]
    assert set(row["timings"]) == {"floor", "tinybgn/plain", "tinybgn/bgn"}


def test_bench_epoch_smoke_reports_throughput_and_memory(tmp_path, shared_data):
    data = shared_data / "fashion-mnist"
    if not (data / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST not found in {data}")
    out = tmp_path / "epoch.json"
    proc = run_script(
        str(BENCH / "bench_epoch.py"),
        "--data",
        str(data),
        "--limit",
        "1280",
        "--depth",
        "10",
        "--threads",
        "1",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["samples_per_second"] > 0 and result["steps"] == 10
    assert result["tracemalloc_peak_mb"] > 0 and result["max_rss_mb"] > 0
    assert result["last_batch_loss"] == pytest.approx(result["last_batch_loss"])  # finite


def test_bench_subnormals_quick_writes_census_and_ratio(tmp_path):
    out = tmp_path / "subnormals.json"
    proc = run_script(str(BENCH / "bench_subnormals.py"), "--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "FTZ/IEEE" in proc.stdout
    results = json.loads(out.read_text())["results"]
    assert [(r["activation"], r["bgn"]) for r in results] == [("sigmoid", False), ("sigmoid", True)]
    for r in results:
        assert r["median_ms"]["ieee"] > 0 and r["median_ms"]["ftz"] > 0
        assert r["ratio_ftz_over_ieee"] > 0
        census = r["census"]
        assert len(census["delta"]) == len(census["dW"]) == r["depth"] + 1  # hidden + output
        assert all(0 <= s <= 1 for s in census["delta"] + census["dW_squared"])


@pytest.mark.skipif(sys.platform != "linux", reason="FTZ/DAZ are set through glibc")
def test_flush_to_zero_flushes_inside_and_restores_after():
    """The FTZ/DAZ switch of bench_subnormals really changes the arithmetic, and only inside."""
    code = """
import platform, sys
import numpy as np
sys.path.insert(0, "benchmarks")
if platform.machine() != "x86_64":
    print("skip"); sys.exit(0)
from bench_subnormals import FlushToZero, subnormal_share
tiny = np.finfo(np.float32).tiny
x = np.array([tiny / 4, 1e-20], dtype=np.float32)
def product():  # a subnormal input (DAZ) and a product that underflows (FTZ)
    return [float(x[0] * np.float32(1.0)), float(x[1] * x[1])]
before = product()
with FlushToZero():
    inside = product()
after = product()
print(before[0] > 0, before[1] > 0, inside == [0.0, 0.0], after == before,
      subnormal_share(np.array([0, tiny / 2, 1, -tiny / 8], dtype=np.float32)))
"""
    proc = run_script("-c", code)
    assert proc.returncode == 0, proc.stderr
    if proc.stdout.strip() == "skip":
        pytest.skip("FTZ/DAZ are x86-64 flags")
    assert proc.stdout.split() == ["True", "True", "True", "True", "0.5"]
