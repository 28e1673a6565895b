"""Checkpoints: every optimiser resumes bit for bit (also after kill -9), resume refuses other
settings, divergence markers belong to their run, and damaged files raise CheckpointError."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_train import small_net, toy_data  # noqa: E402  (tests/ is on sys.path)

import tinybgn
from tinybgn.grad_methods import make_grad_method
from tinybgn.optim import make_optimizer
from tinybgn.train import (
    CheckpointError,
    History,
    ResumeError,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
    train,
)

OPTIMIZERS = [("adam", {}), ("sgd", {}), ("momentum", {"momentum": 0.9})]


def _opt(net, name="adam", kwargs=None, lr=1e-2):
    return make_optimizer(name, net.parameters(), lr, **(kwargs or {}))


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS)
def test_every_optimizer_resumes_a_run_bit_for_bit(tmp_path, name, kwargs):
    """Issue 12: ``train(optimizer=SGD(...), checkpoint=...)`` failed (no state_dict)."""
    data = toy_data()
    straight = small_net(batchnorm=True)
    train(straight, *data, epochs=3, seed=1, optimizer=_opt(straight, name, kwargs))

    ckpt = tmp_path / "run.npz"
    first = small_net(batchnorm=True)
    train(first, *data, epochs=1, seed=1, optimizer=_opt(first, name, kwargs), checkpoint=ckpt)
    resumed = small_net(seed=99, batchnorm=True)  # other initial weights: all come from the file
    opt = _opt(resumed, name, kwargs)
    history = train(resumed, *data, epochs=3, seed=1, optimizer=opt, checkpoint=ckpt, resume=True)
    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    np.testing.assert_array_equal(resumed.flat_params, straight.flat_params)
    assert opt.t == 3 * 8  # 256 examples / 32 per batch = 8 steps per epoch
    info = json.loads(np.load(ckpt)["info"].tobytes())
    assert info["optimizer"]["kind"] == name


def test_frozen_bgn_resumes_with_the_constants_of_its_first_batch(tmp_path):
    data = toy_data()
    straight = small_net(bgn=True)
    method = make_grad_method("frozen_bgn")
    train(straight, *data, epochs=2, lr=1e-2, grad_method=method)
    first = small_net(bgn=True)
    ckpt = tmp_path / "f.npz"
    train(first, *data, epochs=1, lr=1e-2, grad_method="frozen_bgn", checkpoint=ckpt)
    resumed, method2 = small_net(bgn=True), make_grad_method("frozen_bgn")
    train(resumed, *data, epochs=2, lr=1e-2, grad_method=method2, checkpoint=ckpt, resume=True)
    assert method2.n_K(resumed) == method.n_K(straight)
    np.testing.assert_array_equal(resumed.flat_params, straight.flat_params)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    import time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_train import small_net, toy_data
    from tinybgn.optim import make_optimizer
    from tinybgn.train import train

    name, kwargs = sys.argv[1], {{"momentum": {{"momentum": 0.9}}}}.get(sys.argv[1], {{}})
    ckpt, out, resume = sys.argv[2], sys.argv[3], sys.argv[4] == "resume"
    net = small_net(batchnorm=True, seed=1)
    opt = make_optimizer(name, net.parameters(), 1e-2, **kwargs)
    data = toy_data(n_train=2000)

    def progress(record):
        print("epoch", record.epoch, flush=True)
        if record.epoch >= 3 and ckpt and not resume:  # the kill surely lands before the end
            time.sleep(0.5)

    train(net, *data, epochs=6, seed=3, optimizer=opt, checkpoint=ckpt or None,
          resume=resume, progress=progress)
    np.save(out, net.flat_params)
    """
)


@pytest.mark.parametrize("name", ["adam", "sgd", "momentum"])
def test_a_run_killed_with_sigkill_and_resumed_ends_with_the_same_weights(tmp_path, name):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    run = [sys.executable, str(script), name]
    subprocess.run([*run, "", str(tmp_path / "straight.npy"), "fresh"], env=env, check=True)

    ckpt = tmp_path / "c.npz"
    child = subprocess.Popen(
        [*run, str(ckpt), str(tmp_path / "never.npy"), "fresh"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in child.stdout:
        if line.startswith("epoch 2"):  # epoch 2 is on disk; kill it somewhere in epoch 3
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.npy").exists()
    saved = len(json.loads(np.load(ckpt)["info"].tobytes())["history"]["epochs"])
    assert 2 <= saved < 6  # killed mid-run

    subprocess.run([*run, str(ckpt), str(tmp_path / "resumed.npy"), "resume"], env=env, check=True)
    straight, resumed = np.load(tmp_path / "straight.npy"), np.load(tmp_path / "resumed.npy")
    np.testing.assert_array_equal(resumed, straight)


# -- resume refuses other settings ------------------------------------------------------------
@pytest.mark.parametrize(
    "change, message",
    [
        ({"lr": 0.5}, "optimizer.lr: 0.01 in the checkpoint, 0.5 now"),
        ({"seed": 7}, "seed: 1 in the checkpoint, 7 now"),
        ({"batch_size": 16}, "batch_size: 32 in the checkpoint, 16 now"),
        ({"optimizer": "sgd"}, "optimizer.kind: 'adam' in the checkpoint, 'sgd' now"),
        ({"grad_method": "block_normalized"}, "grad_method.name"),
        ({"n_train": 200}, "data.n_train: 256 in the checkpoint, 200 now"),
        ({"activation": "relu"}, "model.hash"),
    ],
)
def test_resume_with_other_settings_is_refused_and_leaves_the_checkpoint_alone(
    tmp_path, change, message
):
    """Issue 10: ``--lr 0.5 --seed 7`` on resume trained with them and rewrote the settings."""
    ckpt = tmp_path / "c.npz"
    data = toy_data()
    train(small_net(), *data, epochs=1, lr=1e-2, seed=1, checkpoint=ckpt)
    before = ckpt.read_bytes()
    settings = read_checkpoint_meta(ckpt)["settings"]
    assert settings["seed"] == 1 and settings["optimizer"]["lr"] == 0.01

    net = small_net(activation=change.get("activation", "tanh"))
    kwargs = {"lr": change.get("lr", 1e-2)}
    if "optimizer" in change:
        kwargs = {"optimizer": make_optimizer("sgd", net.parameters(), 1e-2)}
    n = change.get("n_train", 256)
    with pytest.raises(ResumeError, match=message.replace(".", r"\.")):
        train(
            net,
            data[0][:n],
            data[1][:n],
            *data[2:],
            epochs=2,
            seed=change.get("seed", 1),
            batch_size=change.get("batch_size", 32),
            grad_method=change.get("grad_method"),
            checkpoint=ckpt,
            resume=True,
            **kwargs,
        )
    assert ckpt.read_bytes() == before


# -- divergence markers -----------------------------------------------------------------------
def _diverging(tmp_path, ckpt):
    net = tinybgn.mlp(in_features=20, hidden=(16,) * 12, out_features=4, activation="relu")
    history = train(net, *toy_data(), epochs=3, lr=1e6, checkpoint=ckpt)
    assert history.diverged is not None
    return history


def test_a_stale_divergence_marker_does_not_stop_a_later_healthy_run(tmp_path):
    """Issue 10: the marker of another run made a healthy run report "diverged" and train
    nothing."""
    ckpt = tmp_path / "c.npz"
    _diverging(tmp_path, ckpt)
    marker = tmp_path / "c.npz.diverged.json"
    assert marker.exists()
    history = train(small_net(), *toy_data(), epochs=2, lr=1e-2, checkpoint=ckpt, resume=True)
    assert history.diverged is None and len(history.epochs) == 2
    assert not marker.exists()


def test_the_divergence_marker_of_the_same_run_is_honoured(tmp_path):
    ckpt = tmp_path / "c.npz"
    first = _diverging(tmp_path, ckpt)
    marker = json.loads((tmp_path / "c.npz.diverged.json").read_text())
    assert set(marker) == {"run_id", "settings", "history"}
    net = tinybgn.mlp(in_features=20, hidden=(16,) * 12, out_features=4, activation="relu")
    again = train(net, *toy_data(), epochs=3, lr=1e6, checkpoint=ckpt, resume=True)
    assert again.diverged == first.diverged


def test_a_run_that_blows_up_without_nan_is_flagged_as_diverged(tmp_path):
    """Issue 10: lr 1e3 runs with a test loss of ~1e12 were recorded as normal."""
    history = train(small_net(activation="relu"), *toy_data(), epochs=3, lr=1e3)
    d = history.diverged
    assert d is not None and d["stage"] == "loss" and d["epoch"] == 1
    assert "exceeds 1000 x max(initial loss, ln K)" in d["error"]
    assert history.final.test_loss > 1000 * np.log(4)
    healthy = train(small_net(), *toy_data(), epochs=3, lr=1e-2)
    assert healthy.diverged is None


# -- damaged checkpoints ----------------------------------------------------------------------
def _good(tmp_path):
    net = small_net()
    opt = tinybgn.Adam(net.parameters(), lr=1e-2)
    history = train(net, *toy_data(), epochs=1, optimizer=opt)
    return save_checkpoint(tmp_path / "good.npz", net, opt, history, {"note": 1})


def _damaged(good, out, edit):
    """Rewrite checkpoint ``good`` to ``out`` after ``edit(arrays, info)`` changed it; the info
    JSON is re-encoded unless ``edit`` replaced the raw ``info`` array itself."""
    arrays = dict(np.load(good))
    original = arrays["info"]
    info = json.loads(original.tobytes())
    edit(arrays, info)
    if arrays.get("info") is original:
        arrays["info"] = np.frombuffer(json.dumps(info).encode(), np.uint8)
    np.savez(out, **arrays)
    return out


def _set(key, value):
    def edit(arrays, info):
        arrays[key] = value

    return edit


def _info(fn):
    def edit(arrays, info):
        fn(info)

    return edit


def _raw_info(raw):
    return _set("info", raw)


DAMAGE = {
    "moment of shape (1,)": _set("optimizer/m/0", np.zeros(1, np.float32)),
    "moment in float64": _set("optimizer/v/0", np.zeros(948, np.float64)),
    "weight of the wrong shape": _set("model/0.W", np.zeros((3, 3), np.float32)),
    "weight in float64": _set("model/0.W", np.zeros((20, 16), np.float64)),
    "NaN in a weight": _set("model/0.b", np.full(16, np.nan, np.float32)),
    "an unexpected array": _set("model/99.W", np.zeros(2, np.float32)),
    "a missing weight": lambda arrays, info: arrays.pop("model/2.W"),
    "a missing moment": lambda arrays, info: arrays.pop("optimizer/v/0"),
    "no info": lambda arrays, info: arrays.pop("info"),
    "info not bytes": _raw_info(np.zeros(3, np.float32)),
    "info bad JSON": _raw_info(np.frombuffer(b"{not json", np.uint8)),
    "info not UTF-8": _raw_info(np.frombuffer(b"\xff\xfe{}", np.uint8)),
    "info a JSON list": _raw_info(np.frombuffer(b"[1, 2]", np.uint8)),
    "other format": _info(lambda i: i.update(format="keras")),
    "old version": _info(lambda i: i.update(version=1)),
    "no history": _info(lambda i: i.pop("history")),
    "damaged history": _info(lambda i: i["history"]["epochs"][0].pop("test_loss")),
    "another optimizer kind": _info(lambda i: i["optimizer"].update(kind="momentum")),
    "negative step": _info(lambda i: i["optimizer"].update(step=-3)),
    "optimizer array count": _info(lambda i: i["optimizer"]["arrays"].update(m=2)),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_raises_checkpoint_error(tmp_path, damage):
    bad = _damaged(_good(tmp_path), tmp_path / "bad.npz", DAMAGE[damage])
    net = small_net(seed=3)
    opt = tinybgn.Adam(net.parameters(), lr=1e-2)
    before = net.flat_params.copy()
    with pytest.raises(CheckpointError):
        load_checkpoint(bad, net, opt)
    np.testing.assert_array_equal(net.flat_params, before)  # nothing half-loaded
    assert opt.t == 0


@pytest.mark.parametrize(
    "damage",
    [
        "empty",
        "truncated to 100 bytes",
        "truncated by half",
        "last byte cut",
        "not a zip",
        "a flipped data byte",
        "a lone .npy",
        "missing file",
    ],
)
def test_a_damaged_checkpoint_file_raises_checkpoint_error(tmp_path, damage):
    good = _good(tmp_path)
    raw = good.read_bytes()
    bad = tmp_path / "bad.npz"
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "truncated to 100 bytes":
        bad.write_bytes(raw[:100])
    elif damage == "truncated by half":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "last byte cut":
        bad.write_bytes(raw[:-1])
    elif damage == "not a zip":
        bad.write_bytes(b"GIF89a" + bytes(200))
    elif damage == "a flipped data byte":
        with zipfile.ZipFile(good) as z:
            member = z.getinfo("model/0.W.npy")
        data = bytearray(raw)
        data[member.header_offset + 200] ^= 0xFF  # inside the stored array: the CRC fails
        bad.write_bytes(bytes(data))
    elif damage == "a lone .npy":
        np.save(tmp_path / "lone.npy", np.zeros(3))
        bad = tmp_path / "lone.npy"
    with pytest.raises(CheckpointError):
        load_checkpoint(bad, small_net(), tinybgn.Adam(small_net().parameters()))


def test_checkpoint_and_marker_files_respect_the_umask(tmp_path):
    """Issue 10: checkpoints were created 0600 whatever the umask (mkstemp)."""
    old = os.umask(0o022)
    try:
        ckpt = tmp_path / "c.npz"
        train(small_net(), *toy_data(), epochs=1, lr=1e-2, checkpoint=ckpt)
        assert ckpt.stat().st_mode & 0o777 == 0o644
        _diverging(tmp_path, tmp_path / "d.npz")
        assert (tmp_path / "d.npz.diverged.json").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_history_and_checkpoint_record_the_blas_thread_count(tmp_path):
    from tinybgn import blas

    ckpt = tmp_path / "c.npz"
    history = train(small_net(), *toy_data(), epochs=1, lr=1e-2, checkpoint=ckpt, meta={"a": 1})
    assert history.meta["blas_threads"] == blas.num_threads()
    meta = read_checkpoint_meta(ckpt)
    assert meta["blas"]["num_threads"] == blas.num_threads() and meta["user"] == {"a": 1}
    assert History.from_dict(history.to_dict()) == history


def test_a_run_that_diverges_after_a_checkpoint_owns_its_marker(tmp_path):
    ckpt, data = tmp_path / "c.npz", toy_data()
    net = small_net()

    def poison(record):  # after epoch 1 is saved, a NaN weight makes epoch 2 diverge
        if record.epoch == 1:
            net.layers[0].W[0, 0] = np.nan

    first = train(net, *data, epochs=3, lr=1e-2, checkpoint=ckpt, progress=poison)
    assert first.diverged["epoch"] == 2 and len(first.epochs) == 1
    marker = json.loads((tmp_path / "c.npz.diverged.json").read_text())
    assert marker["run_id"] == read_checkpoint_meta(ckpt)["run_id"]
    again = train(small_net(), *data, epochs=3, lr=1e-2, checkpoint=ckpt, resume=True)
    assert again == first  # the recorded result; nothing trained
    with pytest.raises(ResumeError):
        train(small_net(), *data, epochs=3, lr=5e-3, checkpoint=ckpt, resume=True)
