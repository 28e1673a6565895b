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
