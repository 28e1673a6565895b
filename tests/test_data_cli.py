"""``tinybgn data verify|info|show`` on the real shared files and on damaged copies.

The ``download`` action is tested with the local mirror server in test_data_download.py.
"""

from __future__ import annotations

import argparse
import shutil

import matplotlib.image
import pytest

from tinybgn.data import ChecksumError, DataNotFoundError
from tinybgn.data import locate as locate_module
from tinybgn.data.cli import add_subcommand
from tinybgn.data.locate import ENV_VAR, SearchRoot


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tinybgn")
    add_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_verify_reports_each_file_ok(shared_data, capsys):
    assert run_cli(["data", "verify", "mnist", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert out.count("OK ") == 2 and "train split not present" in out


def test_verify_flags_a_damaged_copy_and_leaves_it_alone(shared_data, tmp_path, capsys):
    folder = tmp_path / "mnist"
    shutil.copytree(shared_data / "mnist", folder)
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    bad.chmod(0o644)
    bad.write_bytes(bad.read_bytes()[:-10])
    assert run_cli(["data", "verify", "mnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "OK   t10k-images" in out and "BAD  t10k-labels" in out and "truncated gzip" in out
    assert bad.exists()


def test_verify_missing_dataset_raises_not_found(tmp_path, monkeypatch):
    monkeypatch.setattr(locate_module, "SYSTEM_ROOTS", ())
    monkeypatch.setattr(locate_module, "default_root", lambda: SearchRoot(tmp_path, "default"))
    with pytest.raises(DataNotFoundError, match="tinybgn data download mnist"):
        run_cli(["data", "verify", "mnist", "--data-dir", str(tmp_path / "none")])


def test_info_prints_counts_and_class_balance(shared_data, capsys):
    assert run_cli(["data", "info", "fashion-mnist", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "train: 60000 examples" in out and "test: 10000 examples" in out
    assert "9 Ankle boot" in out and "10.0%" in out


def test_info_without_name_shows_search_path_and_status(shared_data, capsys):
    assert run_cli(["data", "info", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "Search path" in out and "data_dir argument" in out
    assert f"mnist: {shared_data / 'mnist'} (test)" in out


def test_show_saves_a_png_grid(shared_data, tmp_path, capsys):
    out_file = tmp_path / "grid.png"
    argv = ["data", "show", "mnist", "--data-dir", str(shared_data), "-n", "9", "-o", str(out_file)]
    assert run_cli(argv) == 0
    image = matplotlib.image.imread(out_file)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert "saved 9 mnist test images" in capsys.readouterr().out


def test_checksum_error_reaches_the_cli_as_a_tinybgn_error(shared_data, tmp_path):
    """fashion-mnist asked for, MNIST files found: the checksums tell them apart."""
    with pytest.raises(ChecksumError, match="content of mnist"):
        run_cli(["data", "info", "fashion-mnist", "--data-dir", str(shared_data / "mnist")])
