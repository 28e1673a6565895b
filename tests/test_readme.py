"""The README's Python example runs, on real MNIST digits (docs must not drift from code)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(shared_data, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TINYBGN_DATA", str(shared_data / "mnist"))
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the carved-split warning is expected here
        for code in blocks:
            exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "carved" in out and "test accuracy" in out and "eq. (5)" in out


def test_readme_accuracy_table_is_the_committed_report():
    """Every number of the README's 90-layer table comes from docs/results/quick/table1.json."""
    import json

    root = README.parent
    cells = json.loads((root / "docs/results/quick/table1.json").read_text())["cells"]
    by_key = {(c["activation"], c["batchnorm"], c["bgn"]): c for c in cells if c["depth"] == 90}
    rows = re.findall(r"^\| (relu|sigmoid|tanh) +\| (.+) \|$", README.read_text(), flags=re.M)
    assert len(rows) == 3
    columns = [(False, False), (False, True), (True, False), (True, True)]  # none, BGN, BN, both
    for activation, rest in rows:
        for (bn, bgn), text in zip(columns, rest.split(" | "), strict=True):
            ours, paper = re.fullmatch(r"\**([\d.]+)\** \(([\d.]+)\)", text.strip()).groups()
            cell = by_key[(activation, bn, bgn)]
            assert ours == f"{cell['mean']:.3f}", (activation, bn, bgn)
            assert paper == f"{cell['paper'][0]:.3f}", (activation, bn, bgn)
