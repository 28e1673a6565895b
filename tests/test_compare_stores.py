"""benchmarks/compare_stores.py: same spec in two stores -> same record? time ratio?"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _record(run_id, loss, seconds, commit):
    return {
        "id": run_id,
        "spec": {
            "study": "table1",
            "activation": "relu",
            "depth": 90,
            "batchnorm": False,
            "bgn": True,
            "lr": 1e-3,
            "seed": 1,
            "run": 0,
        },  # fmt: skip
        "accuracy": 0.5,
        "history": {"epochs": [{"epoch": 1, "train_loss": loss, "seconds": seconds}], "meta": {}},
        "train_seconds": seconds,
        "worker": {"tinybgn_commit": commit, "pid": 1},
        "finished_at": "2026-12-03T15:00:00+0000",
    }


def _store(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_compare_stores_finds_equal_and_different_records_and_the_time_ratio(tmp_path):
    old = [_record("r1", 1.0, 40.0, "old"), _record("r2", 2.0, 10.0, "old")]
    a = _store(tmp_path / "a.jsonl", [*old, _record("r3", 3.0, 10.0, "old")])
    b = _store(
        tmp_path / "b.jsonl",
        [_record("r1", 1.0, 20.0, "new"), _record("r2", 2.0000001, 10.0, "new")],
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_stores.py"), a, b],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    out = proc.stdout
    assert "2 runs in both stores" in out  # r3 only in A
    assert "| r1 | relu | yes | 1.00e-03 | yes | old -> new | 40.0 | 20.0 | 0.50 |" in out
    assert "| r2 | relu | yes | 1.00e-03 | **no** |" in out  # one loss differs in the last digits
    assert "identical records (timing and machine fields aside): 1 of 2" in out
    assert "relu: median B / A training time per epoch 0.75 (n = 2)" in out
