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
