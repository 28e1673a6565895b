"""The committed result folders are what their stored runs say.

For every finished store in docs/results/ (a ``runs.jsonl.gz`` beside its ``table1.json``),
``tinybgn report`` is run on the store alone, with no dataset reachable, and its tables must
equal the committed ones: nothing in a committed table was typed in or left stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinybgn.cli import main

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
FINISHED = ["fashion-full", "standard"]


@pytest.mark.parametrize("name", FINISHED)
def test_committed_tables_have_what_the_issue_asks_for(name):
    folder = RESULTS / name
    table = json.loads((folder / "table1.json").read_text())
    for cell in table["cells"]:
        for key in ("activation", "batchnorm", "bgn", "depth", "n", "mean", "sd", "ci95"):
            assert key in cell, (name, key)
        low, high = cell["ci95"]
        assert low - 1e-12 <= cell["mean"] <= high + 1e-12  # 0.1 vs 0.09999999999999999
    assert table["pairs"]
    for pair in table["pairs"]:
        assert {"diff", "ci95", "p", "verdict"} <= set(pair)
    protocol = json.loads((folder / "protocol.json").read_text())
    assert protocol["epochs"] == 20 and protocol["selection"] == "validation"


def test_fashion_full_used_the_full_training_set():
    data = json.loads((RESULTS / "fashion-full" / "protocol.json").read_text())["data"]
    assert (data["dataset"], data["data_split"]) == ("fashion-mnist", "standard")
    assert data["n_train"] + data["n_val"] == 60000 and data["n_test"] == 10000


@pytest.mark.parametrize("name", FINISHED)
def test_report_from_the_store_alone_rebuilds_the_committed_tables(name, tmp_path, monkeypatch):
    monkeypatch.delenv("TINYBGN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.cache dataset either
    folder = RESULTS / name
    assert main(["report", str(folder / "runs.jsonl.gz"), "--out", str(tmp_path / "out")]) == 0
    for table in ("table1.json", "claims.json", "table1.md", "pairs.csv", "selection.csv"):
        assert (tmp_path / "out" / table).read_text() == (folder / table).read_text(), table
