"""The training loop: history, determinism, checkpoints, divergence, `tinybgn train`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tinybgn
from tinybgn.cli import main
from tinybgn.errors import NonFiniteError, ShapeError
from tinybgn.train import (
    CheckpointError,
    History,
    evaluate,
    load_checkpoint,
    locate_nonfinite,
    save_checkpoint,
    train,
)


def toy_data(n_train=256, n_test=128, seed=0):
    """Two Gaussian blobs per class in 20 dimensions, 4 classes: learnable in one epoch."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (4, 20))
    y = rng.integers(0, 4, n_train + n_test)
    x = (centres[y] + rng.normal(0, 1, (len(y), 20))).astype(np.float32)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def small_net(seed=0, **kw):
    kw.setdefault("activation", "tanh")
    return tinybgn.mlp(in_features=20, hidden=(16,) * 3, out_features=4, seed=seed, **kw)


def test_history_has_one_record_per_epoch_and_the_net_learns():
    data = toy_data()
    history = train(small_net(), *data, epochs=3, batch_size=32, lr=1e-2)
    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    assert history.diverged is None
    assert history.final.test_accuracy > 0.9  # separable blobs; chance is 0.25
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss
    assert all(e.seconds > 0 for e in history.epochs)
    assert History.from_dict(json.loads(json.dumps(history.to_dict()))) == history


def test_same_seed_gives_bitwise_identical_history_and_weights():
    data = toy_data()
    a, b = small_net(seed=3), small_net(seed=3)
    ha = train(a, *data, epochs=2, lr=1e-2, seed=7)
    hb = train(b, *data, epochs=2, lr=1e-2, seed=7)
    strip = [{k: v for k, v in vars(e).items() if k != "seconds"} for e in ha.epochs]
    assert strip == [{k: v for k, v in vars(e).items() if k != "seconds"} for e in hb.epochs]
    np.testing.assert_array_equal(a.flat_params, b.flat_params)


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path):
    data = toy_data()
    straight = small_net(batchnorm=True)
    train(straight, *data, epochs=3, lr=1e-2, seed=1)

    ckpt = tmp_path / "run.npz"
    first = small_net(batchnorm=True)
    train(first, *data, epochs=1, lr=1e-2, seed=1, checkpoint=ckpt)
    resumed = small_net(seed=99, batchnorm=True)  # other initial weights: all come from the file
    history = train(resumed, *data, epochs=3, lr=1e-2, seed=1, checkpoint=ckpt, resume=True)

    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    np.testing.assert_array_equal(resumed.flat_params, straight.flat_params)
    np.testing.assert_array_equal(
        resumed.state_dict()["1.running_mean"], straight.state_dict()["1.running_mean"]
    )
    assert not list(tmp_path.glob("*.part"))  # the atomic write left no temporary file


def test_checkpoint_round_trip_restores_model_optimizer_and_history(tmp_path):
    data = toy_data()
    net = small_net()
    opt = tinybgn.Adam(net.parameters(), lr=1e-2)
    history = train(net, *data, epochs=1, optimizer=opt)
    path = save_checkpoint(tmp_path / "c.npz", net, opt, history, {"note": "x"})
    other = small_net(seed=5)
    other_opt = tinybgn.Adam(other.parameters(), lr=1e-2)
    h2, meta = load_checkpoint(path, other, other_opt)
    assert meta == {"note": "x"} and h2 == history
    np.testing.assert_array_equal(other.flat_params, net.flat_params)
    assert other_opt.t == opt.t
    np.testing.assert_array_equal(other_opt.v[0], opt.v[0])


def test_load_checkpoint_errors_are_clear(tmp_path):
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(bogus, small_net())
    net = small_net()
    path = save_checkpoint(tmp_path / "c.npz", net, tinybgn.Adam(net.parameters()), History(), {})
    wider = tinybgn.mlp(in_features=20, hidden=(8,) * 3, out_features=4)
    with pytest.raises(CheckpointError, match="the model has float32"):
        load_checkpoint(path, wider)


def test_a_diverging_run_is_recorded_with_its_layer_not_raised(tmp_path):
    data = toy_data()
    net = tinybgn.mlp(in_features=20, hidden=(16,) * 12, out_features=4, activation="relu")
    history = train(net, *data, epochs=3, lr=1e6, checkpoint=tmp_path / "c.npz")
    d = history.diverged
    assert d is not None, "lr = 1e6 should make a 12-layer ReLU net overflow"
    assert d["epoch"] == 1 and d["step"] >= 1
    assert d["stage"] in ("parameters", "forward") and isinstance(d["layer_index"], int)
    assert d["layer"] == repr(net.layers[d["layer_index"]])
    assert (tmp_path / "c.npz.diverged.json").exists()
    # Resuming a diverged run returns the record instead of training again.
    again = train(net, *data, epochs=3, lr=1e6, checkpoint=tmp_path / "c.npz", resume=True)
    assert again.diverged == d


def test_locate_nonfinite_names_the_parameter_layer_closest_to_the_output():
    net = small_net()
    net.layers[2].W[0, 0] = np.nan  # the second Dense (index 2: Dense, Tanh, Dense, ...)
    net.layers[4].b[1] = np.inf
    found = locate_nonfinite(net, np.zeros((2, 20), np.float32))
    assert found == {"stage": "parameters", "layer_index": 4, "layer": repr(net.layers[4])}


def test_locate_nonfinite_finds_the_first_forward_overflow():
    net = tinybgn.mlp(in_features=20, hidden=(16,) * 6, out_features=4, activation="relu")
    for layer in net.layers:
        if isinstance(layer, tinybgn.Dense):
            layer.W[...] = 1e7  # each layer multiplies activations by ~1e8: overflow by layer 5
    x = np.ones((2, 20), np.float32)
    found = locate_nonfinite(net, x)
    assert found["stage"] == "forward"
    h = x
    for i, layer in enumerate(net.layers):  # recompute: the first non-finite output
        with np.errstate(all="ignore"):
            h = layer.forward(h)
        if not np.isfinite(h).all():
            assert found["layer_index"] == i
            break


def test_evaluate_reports_the_most_predicted_class_share():
    net = small_net()
    net.layers[-1].b[...] = np.array([0, 0, 0, 1e4], np.float32)  # always predicts class 3
    x = np.zeros((10, 20), np.float32)
    y = np.array([3, 3, 3, 0, 1, 2, 0, 1, 2, 0])
    m = evaluate(net, x, y)
    assert m["top_class_fraction"] == 1.0 and m["accuracy"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"epochs": 1.5}, "epochs")],
)
def test_bad_options_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(small_net(), *toy_data(), **kwargs)


def test_train_command_writes_history_and_checkpoint(shared_data, tmp_path, capsys):
    mnist = shared_data / "mnist"
    if not mnist.is_dir():
        pytest.skip(f"no MNIST at {mnist}")
    args = ["train", "--data-dir", str(mnist), "--no-download", "--n-train", "300"]
    args += ["--n-test", "100"]
    args += ["--depth", "3", "--epochs", "2", "--activation", "sigmoid", "--bgn"]
    args += ["--checkpoint", str(tmp_path / "c.npz"), "--history", str(tmp_path / "h.json")]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "final test accuracy" in out
    assert "epoch   2/2" in err and "carved" in err  # progress lines and the carve warning
    history = json.loads((tmp_path / "h.json").read_text())
    assert len(history["epochs"]) == 2
    assert (tmp_path / "c.npz").exists()
    assert main(["train", "--resume"]) == 2  # --resume without --checkpoint


# -- bad input is raised before training, not recorded as divergence ---------------------------
def test_empty_sets_are_rejected():
    """Issue 10: an empty train set gave a NaN loss silently, an empty test set NumPy's error."""
    x, y, xt, yt = toy_data()
    with pytest.raises(ShapeError, match="the train set is empty"):
        train(small_net(), x[:0], y[:0], xt, yt, epochs=1)
    with pytest.raises(ShapeError, match="the test set is empty"):
        train(small_net(), x, y, xt[:0], yt[:0], epochs=1)
    with pytest.raises(ShapeError, match="non-empty"):
        evaluate(small_net(), xt[:0], yt[:0])


@pytest.mark.parametrize("where", [0, 2])
def test_nan_inputs_are_bad_input_not_divergence(where):
    data = list(toy_data())
    data[where] = data[where].copy()
    data[where][3, 2] = np.nan
    with pytest.raises(NonFiniteError, match="bad input data, not a divergence"):
        train(small_net(), *data, epochs=1)


def test_numpy_integers_are_accepted_and_bools_are_not():
    data = toy_data()
    a = train(small_net(), *data, epochs=np.int64(1), batch_size=np.int64(32), seed=np.int32(2))
    b = train(small_net(), *data, epochs=1, batch_size=32, seed=2)
    assert a.final.test_loss == b.final.test_loss
    for kwargs in ({"batch_size": True}, {"epochs": False}, {"seed": -1}, {"seed": 1.0}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            train(small_net(), *data, **kwargs)


def test_a_batch_of_one_for_batchnorm_is_refused_before_training():
    x, y, xt, yt = toy_data()
    with pytest.raises(ShapeError, match="a batch of one sample would reach BatchNorm"):
        train(small_net(batchnorm=True), x[:33], y[:33], xt, yt, epochs=1, batch_size=32)
    train(small_net(), x[:33], y[:33], xt, yt, epochs=1, batch_size=32)  # no BN: fine


def test_lr_and_eps_belong_to_the_optimizer_when_one_is_given():
    net = small_net()
    with pytest.raises(ValueError, match="contradict the optimizer given"):
        train(net, *toy_data(), epochs=1, lr=0.1, optimizer=tinybgn.SGD(net.parameters()))
    with pytest.raises(ValueError, match="contradict the optimizer given"):
        train(net, *toy_data(), epochs=1, eps=1e-7, optimizer=tinybgn.SGD(net.parameters()))
    adam = tinybgn.Adam(net.parameters(), lr=0.01, eps=1e-8)
    train(net, *toy_data(), epochs=1, lr=0.01, eps=1e-8, optimizer=adam)  # the same: fine


def test_float16_models_are_refused_clearly():
    """Issue 10: float16 models diverged at step 1-2 (Adam's g^2 underflows)."""
    net = tinybgn.mlp(in_features=20, hidden=(16,) * 3, out_features=4, dtype=np.float16)
    x, y, xt, yt = toy_data()
    with pytest.raises(TypeError, match="float16 are not supported"):
        train(net, x.astype(np.float16), y, xt.astype(np.float16), yt, epochs=1)


def test_grad_methods_run_inside_train():
    data = toy_data()
    clip = tinybgn.grad_methods.make_grad_method("clip", clip_norm=0.01)
    history = train(small_net(), *data, epochs=1, lr=1e-2, grad_method=clip)
    assert clip.last_norm is not None and history.diverged is None
    block = train(small_net(), *data, epochs=1, lr=1e-2, grad_method="block_normalized")
    plain = train(small_net(), *data, epochs=1, lr=1e-2)
    assert block.final.train_loss != plain.final.train_loss  # the method changed the steps
