"""benchmarks/bench_engine.py (the graph engine against an older commit, same run) still runs
and writes the fields docs/performance.md quotes. Quick mode, HEAD against itself (so the test
needs no particular branch); no speed is asserted (a shared 2-core machine is too noisy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "trained", [[], ["--trained", "40", "--lr", "3e-3"]], ids=["fresh", "trained"]
)
def test_bench_engine_quick_compares_two_versions(tmp_path, trained):
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    if git.returncode != 0:
        pytest.skip("not a git checkout: bench_engine.py exports the 'before' commit with git")
    out = tmp_path / "engine.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_engine.py", "--quick", "--base", "HEAD", "--json",
         str(out), *trained],  # fmt: skip
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["before"] == git.stdout.decode().strip()
    (row,) = result["results"]
    assert set(row["median_ms"]) == {"before", "after"}
    assert row["ratio_after_over_before"] > 0
    assert len(row["samples_s"]["before"]) == len(row["samples_s"]["after"]) == 3
    assert row["trained_steps"] == (40 if trained else 0)
    assert row["dataset"] == ("mnist" if trained else None)  # real digits (or the sample)
    assert all(0 <= share <= 1 for share in row["subnormal_share_of_m"].values())
