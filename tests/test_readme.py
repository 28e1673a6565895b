"""The README's Python example runs, on real MNIST digits (docs must not drift from code)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _run_readme_examples() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the carved-split / embedded-sample warnings are expected
        for code in blocks:
            exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    return ""


def test_readme_python_examples_run(mnist_digits, monkeypatch, tmp_path, capsys):
    """On the real 10k test digits when they are around, else on the embedded sample."""
    monkeypatch.chdir(tmp_path)
    _run_readme_examples()
    out = capsys.readouterr().out
    assert "carved" in out and "test accuracy" in out and "eq. (5)" in out
    if mnist_digits.embedded:
        assert "embedded sample of 3000 real MNIST test digits" in out


def test_readme_example_runs_on_the_embedded_sample_alone(monkeypatch, tmp_path, capsys):
    """A fresh clone, no dataset anywhere, no network: the example says it uses the sample."""
    monkeypatch.delenv("TINYBGN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    import tinybgn.data.locate as locate

    monkeypatch.setattr(locate, "project_root", lambda: None)  # not this checkout's data/
    monkeypatch.chdir(tmp_path)
    _run_readme_examples()
    out = capsys.readouterr().out
    assert "embedded sample of 3000 real MNIST test digits" in out and "test accuracy" in out


def test_readme_accuracy_table_is_the_committed_report():
    """Every number of the README's 90-layer table comes from docs/results/standard/table1.json
    (ours) and tinybgn's copy of the paper's Table 1."""
    import json

    from tinybgn.experiments.table1 import PAPER_TABLE1

    root = README.parent
    cells = json.loads((root / "docs/results/standard/table1.json").read_text())["cells"]
    by_key = {(c["activation"], c["batchnorm"], c["bgn"]): c for c in cells if c["depth"] == 90}
    rows = re.findall(r"^\| (relu|sigmoid|tanh) +\| (.+) \|$", README.read_text(), flags=re.M)
    assert len(rows) == 3
    columns = [(False, False), (False, True), (True, False), (True, True)]  # none, BGN, BN, both
    for activation, rest in rows:
        for (bn, bgn), text in zip(columns, rest.split(" | "), strict=True):
            ours, paper = re.fullmatch(r"\**([\d.]+)\** \(([\d.]+)\)", text.strip()).groups()
            cell = by_key[(activation, bn, bgn)]
            assert ours == f"{cell['mean']:.3f}", (activation, bn, bgn)
            key = (activation, bn, bgn)
            assert paper == f"{PAPER_TABLE1[key][90][0]:.3f}", key
