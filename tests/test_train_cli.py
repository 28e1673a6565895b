"""`tinybgn train`: clear errors instead of tracebacks, outputs checked before training, resume
settings, model/optimizer/gradient flags, --threads and --no-download."""

from __future__ import annotations

import json

import pytest

import tinybgn.data
from tinybgn import blas
from tinybgn.cli import main
from tinybgn.errors import TinyBGNError


def _run(args, capsys):
    """Exit code and stderr of ``tinybgn train ARGS`` run in this process."""
    try:
        code = main(["train", *args])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    return code, capsys.readouterr().err


class _Stop(TinyBGNError):
    pass


@pytest.fixture
def no_data(monkeypatch):
    """load_dataset replaced by a stub that records its call and stops the command."""
    calls = []

    def fake(*args, **kwargs):
        calls.append({"args": args, "kwargs": kwargs, "threads": blas.num_threads()})
        raise _Stop("stub: no data in this test")

    monkeypatch.setattr(tinybgn.data, "load_dataset", fake)
    return calls


@pytest.mark.parametrize(
    "args, message",
    [
        (["--eps", "1e-50"], "eps must be positive in float32"),
        (["--seed", "-1"], "argument --seed: must be an integer >= 0"),
        (["--checkpoint", "/proc/c.npz"], "cannot write the checkpoint /proc/c.npz"),
        (["--history", "."], "the history path . is a folder"),
        (["--history", "/nodir/h.json"], "folder /nodir does not exist"),
        (["--lr", "inf"], "must be a positive finite number"),
        (["--momentum", "0.5"], "--momentum needs --optimizer momentum"),
        (["--optimizer", "momentum", "--momentum", "1.5"], "momentum must lie in"),
        (["--clip-norm", "2"], "--clip-norm needs --grad-method clip"),
        (["--bgn-every", "3"], "--bgn-every needs --bgn"),
        (["--grad-method", "frozen_bgn"], "frozen_bgn needs --bgn"),
        (["--optimizer", "sgd", "--eps", "1e-8"], "--eps needs --optimizer adam"),
        (["--resume"], "--resume needs --checkpoint"),
        (["--threads", "0"], "argument --threads"),
    ],
)
def test_bad_invocations_give_a_message_and_exit_2_before_any_data_is_loaded(
    args, message, capsys, no_data
):
    """Issue 10: these gave tracebacks (--history ones only *after* training)."""
    code, err = _run(args, capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not no_data  # failed before loading data, let alone training


def test_no_download_and_threads_reach_the_data_loader_and_blas(capsys, no_data):
    before = blas.num_threads()
    assert _run(["--no-download", "--threads", "2"], capsys)[0] == 2  # the stub stops it
    assert no_data[0]["kwargs"]["download"] is False
    if before is not None:
        assert no_data[0]["threads"] == 2 and blas.num_threads() == before  # restored
    _run([], capsys)
    assert no_data[1]["kwargs"]["download"] is True  # the data helper's default: download
    if before is not None:
        assert no_data[1]["threads"] == 1  # --threads defaults to 1


@pytest.fixture
def mnist(shared_data):
    folder = shared_data / "mnist"
    if not folder.is_dir():
        pytest.skip(f"no MNIST at {folder}")
    return ["--data-dir", str(folder), "--no-download", "--n-train", "300", "--n-test", "100"]


def test_resume_uses_the_checkpoints_settings_and_refuses_others(mnist, tmp_path, capsys):
    ckpt = tmp_path / "c.npz"
    first = [*mnist, "--depth", "3", "--bgn", "--bgn-every", "2", "--optimizer", "momentum"]
    first += ["--grad-method", "frozen_bgn", "--seed", "4", "--checkpoint", str(ckpt)]
    assert main(["train", *first, "--epochs", "1"]) == 0
    capsys.readouterr()
    before = ckpt.read_bytes()

    code, err = _run(["--checkpoint", str(ckpt), "--resume", "--lr", "0.5", "--seed", "7"], capsys)
    assert code == 2 and "--lr 0.5 (the checkpoint has 0.01)" in err
    assert "--seed 7 (the checkpoint has 4)" in err and ckpt.read_bytes() == before

    history = tmp_path / "h.json"
    resume = ["--checkpoint", str(ckpt), "--resume", "--epochs", "2", "--history", str(history)]
    threads_before = blas.num_threads()
    assert main(["train", *resume, "--no-download", "--data-dir", mnist[1], "--seed", "4"]) == 0
    record = json.loads(history.read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2]
    assert record["settings"]["depth"] == 3 and record["settings"]["momentum"] == 0.9
    # The run used --threads' default (1) and says so; the caller's count is given back after.
    if threads_before is not None:  # None: no OpenBLAS to set
        assert record["meta"]["blas_threads"] == 1
    assert blas.num_threads() == threads_before


def test_the_model_optimizer_and_gradient_flags_shape_the_run(mnist, tmp_path, capsys):
    history = tmp_path / "h.json"
    args = [*mnist, "--depth", "4", "--epochs", "1", "--bgn", "--bgn-every", "2"]
    args += ["--bgn-kappa", "3", "--optimizer", "sgd", "--grad-method", "clip"]
    args += ["--clip-norm", "0.5", "--history", str(history), "--batch-size", "50"]
    assert main(["train", *args]) == 0
    s = json.loads(history.read_text())["settings"]
    assert (s["bgn_every"], s["bgn_kappa"], s["optimizer"], s["lr"]) == (2, 3.0, "sgd", 0.01)
    assert (s["grad_method"], s["clip_norm"], s["batch_size"]) == ("clip", 0.5, 50)
