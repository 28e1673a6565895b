"""``tinybgn data verify|info|show`` on the real files and on damaged copies, and the CLI's
argument checks (every bad invocation ends in a one-line message and exit 2, no traceback).

The ``download`` action is tested with the local mirror server in test_data_download.py.
"""

from __future__ import annotations

import argparse
import os
import shutil

import matplotlib.image
import pytest

from tinybgn.cli import main
from tinybgn.data import DataNotFoundError
from tinybgn.data import locate as locate_module
from tinybgn.data.cli import MAX_SHOW, add_subcommand
from tinybgn.data.locate import ENV_VAR, SearchRoot


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No TINYBGN_DATA; the project and system folders are empty tmp folders."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(locate_module, "SYSTEM_ROOTS", (tmp_path / "system",))
    monkeypatch.setattr(
        locate_module, "default_root", lambda: SearchRoot(tmp_path / "default", "default")
    )


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tinybgn")
    add_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_verify_reports_each_file_ok(mnist_dir, capsys):
    assert run_cli(["data", "verify", "mnist", "--data-dir", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("OK ") == 2 and "train split not present" in out


def test_verify_all_with_tinybgn_data_at_an_mnist_folder_is_clean(mnist_dir, monkeypatch, capsys):
    """Regression: MNIST's files were reported as fashion-mnist "BAD" (exit 1)."""
    monkeypatch.setenv(ENV_VAR, str(mnist_dir))
    assert run_cli(["data", "verify"]) == 0
    out = capsys.readouterr().out
    assert "BAD" not in out and "fashion-mnist: not found" in out
    assert f"mnist: {mnist_dir} [{ENV_VAR}]" in out
    assert "mnist-sample:" in out and out.count("OK ") == 4  # mnist's 2 and the sample's 2


def test_verify_flags_a_damaged_copy_and_leaves_it_alone(mnist_dir, tmp_path, capsys):
    folder = tmp_path / "mnist"
    shutil.copytree(mnist_dir, folder)
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    bad.chmod(0o644)
    bad.write_bytes(bad.read_bytes()[:-10])
    assert run_cli(["data", "verify", "mnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "OK   t10k-images" in out and "BAD  t10k-labels" in out and "truncated gzip" in out
    assert bad.exists()


def test_verify_missing_dataset_raises_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="tinybgn data download mnist"):
        run_cli(["data", "verify", "mnist", "--data-dir", str(tmp_path / "none")])


def test_info_prints_counts_and_class_balance(fashion_dir, capsys):
    assert run_cli(["data", "info", "fashion-mnist", "--data-dir", str(fashion_dir)]) == 0
    out = capsys.readouterr().out
    assert "train: 60000 examples" in out and "test: 10000 examples" in out
    assert "9 Ankle boot" in out and "10.0%" in out


def test_info_without_name_shows_search_path_and_status(mnist_dir, capsys):
    assert run_cli(["data", "info", "--data-dir", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    assert "Search path" in out and "data_dir argument" in out
    assert f"mnist: {mnist_dir} (test)" in out


def test_show_saves_a_png_grid(mnist_digits, tmp_path, capsys):
    out_file = tmp_path / "grid.png"
    name = "mnist-sample" if mnist_digits.embedded else "mnist"
    assert run_cli(["data", "show", name, "-n", "9", "-o", str(out_file)]) == 0
    image = matplotlib.image.imread(out_file)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert f"saved 9 {name} test images" in capsys.readouterr().out
    assert out_file.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_folder_named_after_mnist_is_not_searched_for_fashion_mnist(mnist_dir):
    """Regression (was ChecksumError on MNIST's files): a dataset's own folder only."""
    with pytest.raises(DataNotFoundError, match="dataset 'fashion-mnist' not found"):
        run_cli(["data", "info", "fashion-mnist", "--data-dir", str(mnist_dir)])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["download", "mnist", "--timeout", "-1"], "argument --timeout: must be > 0, got -1"),
        (["download", "mnist", "--deadline", "0"], "argument --deadline: must be > 0"),
        (["download", "mnist", "--retries", "0"], "argument --retries: must be >= 1"),
        (["show", "mnist-sample", "-o", "x.badext"], "unknown image format 'badext'"),
        (
            ["show", "mnist-sample", "-o", "/nodir/x.png"],
            "folder /nodir does not exist or is not writable",
        ),
        (["show", "mnist-sample", "--seed", "-1"], "argument --seed: must be >= 0, got -1"),
        (["show", "mnist-sample", "-n", "1000000"], f"must be >= 1 and <= {MAX_SHOW}"),
        (["show", "mnist-sample", "-n", "0"], f"must be >= 1 and <= {MAX_SHOW}"),
        (["show", "mnist-sample", "-n", "many"], "not a number: 'many'"),
    ],
)
def test_bad_arguments_are_one_line_errors_before_any_work(argv, message, capsys):
    """Regression: these raised tracebacks (or, -n 1000000, ran for minutes)."""
    with pytest.raises(SystemExit) as info:
        main(["data", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"tinybgn data {argv[0]}: error: " in err and message in err
    assert "Traceback" not in err


def test_a_data_dir_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    """Regression: the file was skipped and the download went to the clone's data/ folder."""
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["data", "download", "mnist", "--data-dir", str(afile)]) == 2
    err = capsys.readouterr().err
    assert "tinybgn data: error: --data-dir / data_dir is" in err and "is a file" in err
    assert not (tmp_path / "default").exists()
