"""tinybgn against an independent oracle: PyTorch autograd and ``torch.optim.Adam``.

The gradient checks elsewhere test each layer against finite differences. Here the *whole
network* is compared with PyTorch, which shares no code with tinybgn: the same weights (copied
from tinybgn into ``torch.nn`` modules), the same batch, float64 throughout. We expect the loss,
the input gradient and every parameter gradient to agree to about 1e-13 relative (rounding only);
the tests allow 1e-6, so a wrong term (a missing BatchNorm variance term, a BGN that forgets
kappa) shows up as an error near 1, far above the tolerance.

BGN is not a torch layer, so it is written here as a ``torch.autograd.Function`` straight from the
paper: forward is the identity (eq. 4), backward returns kappa * g / ||g|| with the L2 norm over
the whole batch tensor and kappa = sqrt(d), d = size of g without the batch axis (eq. 5).

Keras's BatchNorm (the paper's, and tinybgn's default) is ``torch.nn.BatchNorm1d(eps=1e-3,
momentum=0.01)``: torch's momentum weights the *new* batch statistic, Keras's the old running one.
Both normalise with the biased batch variance in training; they differ only in the running
variance, which torch averages *unbiased* (var * N / (N - 1)); see
``test_bn_running_statistics_match_torch``.

Graphs (tinybgn.Model, tinybgn.residual_mlp): the torch twin of a residual MLP is written
here from residual_mlp's *specification* (stem, blocks ``h = h + F(h)``, BGN in the branch or on
the trunk), as an ``nn.Module`` with its own forward; it does not read tinybgn's graph. Only the
weights are copied, Dense by Dense in order. A layer used twice is one ``nn.Linear`` called twice,
whose gradient torch's autograd sums over the uses.

Every test is marked ``oracle`` and the module is skipped when torch (extra "oracle") is missing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinybgn import (
    BGN,
    Adam,
    Add,
    BatchNorm,
    Dense,
    Input,
    Model,
    ReLU,
    Sigmoid,
    Tanh,
    mlp,
    residual_mlp,
    softmax_cross_entropy,
)

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: the oracle tests need the 'oracle' extra (torch)"
)

pytestmark = pytest.mark.oracle

ACTIVATIONS = ["relu", "sigmoid", "tanh"]
N_CLASSES = 10


# -- the oracle network ---------------------------------------------------------------------
class _BGNFunction(torch.autograd.Function):
    """eq. (4) forward (identity), eq. (5) backward: kappa * g / ||g||, kappa = sqrt(d)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        kappa = math.sqrt(g[0].numel())
        return kappa * g / torch.linalg.vector_norm(g)


class TorchBGN(torch.nn.Module):
    def forward(self, x):
        return _BGNFunction.apply(x)


def to_torch(model) -> tuple[torch.nn.Sequential, list[tuple[str, torch.Tensor]]]:
    """A ``torch.nn.Sequential`` equal to the tinybgn ``model``, with its weights copied.

    Also returns ``[(tinybgn_name, torch_parameter)]`` in the order of
    ``model.named_parameters()``, so gradients can be compared pair by pair.
    """
    dtype = torch.float64 if model.dtype == np.float64 else torch.float32
    modules, params = [], []
    for i, layer in enumerate(model.layers):
        prefix = f"{i}.{type(layer).__name__}"
        if isinstance(layer, Dense):
            lin = torch.nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.W.copy()))  # both (out, in)
                lin.bias.copy_(torch.from_numpy(layer.b.copy()))
            modules.append(lin)
            params += [(f"{prefix}.W", lin.weight), (f"{prefix}.b", lin.bias)]
        elif isinstance(layer, BatchNorm):
            bn = torch.nn.BatchNorm1d(
                layer.features, eps=layer.eps, momentum=1 - layer.momentum, dtype=dtype
            )
            with torch.no_grad():
                bn.weight.copy_(torch.from_numpy(layer.params["gamma"].copy()))
                bn.bias.copy_(torch.from_numpy(layer.params["beta"].copy()))
                bn.running_mean.copy_(torch.from_numpy(layer.buffers["running_mean"].copy()))
                bn.running_var.copy_(torch.from_numpy(layer.buffers["running_var"].copy()))
            modules.append(bn)
            params += [(f"{prefix}.gamma", bn.weight), (f"{prefix}.beta", bn.bias)]
        elif isinstance(layer, BGN):
            assert layer.kappa is None and layer.scope == "batch", "oracle covers the paper's BGN"
            modules.append(TorchBGN())
        elif isinstance(layer, ReLU):
            modules.append(torch.nn.ReLU())
        elif isinstance(layer, Sigmoid):
            modules.append(torch.nn.Sigmoid())
        elif isinstance(layer, Tanh):
            modules.append(torch.nn.Tanh())
        else:  # pragma: no cover - a new layer type needs an oracle here
            raise TypeError(f"no torch oracle for {layer!r}")
    return torch.nn.Sequential(*modules), params


def tinybgn_step(model, x, labels, training=True):
    """Loss, dL/dx and {name: dL/dparam} from tinybgn (copies: the engine may reuse buffers)."""
    logits = model.forward(x, training)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    dx = np.array(model.backward(dlogits), copy=True)
    grads = {name: g.copy() for name, _, g in model.named_parameters()}
    return loss, dx, grads


def torch_step(net, params, x, labels):
    """The same quantities from PyTorch autograd (``net`` in whatever mode it is in)."""
    xt = torch.from_numpy(np.array(x, copy=True)).requires_grad_(True)
    for _, p in params:
        p.grad = None
    loss = torch.nn.functional.cross_entropy(net(xt), torch.from_numpy(labels))
    loss.backward()
    grads = {name: p.grad.numpy().copy() for name, p in params}
    return float(loss.detach()), xt.grad.numpy().copy(), grads


# -- comparisons ----------------------------------------------------------------------------
def norm_rel_error(mine: np.ndarray, ref: np.ndarray) -> float:
    """||mine - ref|| / ||ref|| (float64), or ||mine|| if ref is exactly zero."""
    mine, ref = np.asarray(mine, np.float64), np.asarray(ref, np.float64)
    scale = np.linalg.norm(ref)
    return float(np.linalg.norm(mine - ref) / scale) if scale > 0 else float(np.linalg.norm(mine))


def assert_close(name: str, mine: np.ndarray, ref: np.ndarray, rtol: float) -> None:
    """Norm-wise relative error below ``rtol``, and elementwise ``|mine - ref| <= rtol |ref| +
    atol`` with ``atol = rtol * max|ref|`` (entries far below the largest one are only
    as accurate as the largest, so an absolute floor scaled to the array is the fair test)."""
    err = norm_rel_error(mine, ref)
    assert err <= rtol, (
        f"{name}: norm-wise relative error {err:.3e} > {rtol:.0e}\n"
        f"  tinybgn: {np.ravel(mine)[:5]}\n  torch:   {np.ravel(ref)[:5]}"
    )
    atol = rtol * float(np.max(np.abs(ref))) if np.size(ref) else 0.0
    np.testing.assert_allclose(mine, ref, rtol=rtol, atol=atol, err_msg=name)


def make_case(
    seed: int,
    activation: str,
    batchnorm: bool,
    bgn: bool,
    dtype=np.float64,
    hidden: list[int] | None = None,
    batch: int | None = None,
):
    """A network of >= 5 hidden blocks with uneven widths (depth 6 unless ``hidden`` is given)
    and a batch, all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    hidden = [int(w) for w in rng.integers(5, 24, size=6)] if hidden is None else hidden
    in_features = int(rng.integers(6, 20))
    batch = int(rng.integers(4, 17)) if batch is None else batch
    model = mlp(in_features, hidden, N_CLASSES, activation, batchnorm, bgn, seed=seed, dtype=dtype)
    # Non-trivial BN affine parameters, so that gamma's place in dx is exercised (and so that,
    # with beta = 0, no symmetric activation makes a gradient vanish exactly).
    for layer in model.layers:
        if isinstance(layer, BatchNorm):
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, layer.features)
            layer.params["beta"][...] = rng.uniform(-0.5, 0.5, layer.features)
    x = rng.standard_normal((batch, in_features)).astype(dtype)
    labels = rng.integers(0, N_CLASSES, size=batch)
    return model, x, labels


def compare_gradients(model, x, labels, rtol: float, training: bool = True) -> None:
    net, params = to_torch(model)
    net.train(training)
    loss, dx, grads = tinybgn_step(model, x, labels, training)
    t_loss, t_dx, t_grads = torch_step(net, params, x, labels)
    assert abs(loss - t_loss) <= rtol * abs(t_loss), f"loss {loss!r} vs torch {t_loss!r}"
    assert_close("dL/dx", dx, t_dx, rtol)
    compare_parameter_grads(model, grads, t_grads, rtol, noise=1e-10, training=training)


def compare_parameter_grads(model, grads, t_grads, rtol, noise, training=True, elementwise=True):
    assert set(grads) == set(t_grads)
    zero_in_exact_arithmetic = zero_bias_grads(model) if training else set()
    for name in grads:
        if name in zero_in_exact_arithmetic:
            # b of a Dense that feeds a training-mode BN: BN subtracts the batch mean, so the
            # true gradient is exactly 0 and both libraries return rounding noise, which has no
            # relative error to compare. Check it is noise: far below the same layer's dL/dW.
            scale = np.linalg.norm(t_grads[name.replace(".b", ".W")])
            assert np.linalg.norm(grads[name]) <= noise * scale, name
            assert np.linalg.norm(t_grads[name]) <= noise * scale, name
        elif elementwise:
            assert_close(name, grads[name], t_grads[name], rtol)
        else:
            err = norm_rel_error(grads[name], t_grads[name])
            assert err <= rtol, f"{name}: norm-wise relative error {err:.3e} > {rtol:.0e}"


def zero_bias_grads(model) -> set[str]:
    """Names of the Dense biases whose gradient is 0 in exact arithmetic (followed by BN)."""
    layers = model.layers
    return {
        f"{i}.Dense.b"
        for i in range(len(layers) - 1)
        if isinstance(layers[i], Dense) and isinstance(layers[i + 1], BatchNorm)
    }


# -- gradients, float64 ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("bgn", [False, True], ids=["plain", "bgn"])
@pytest.mark.parametrize("batchnorm", [False, True], ids=["nobn", "bn"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_whole_network_gradients_match_torch_autograd(activation, batchnorm, bgn, seed):
    model, x, labels = make_case(seed, activation, batchnorm, bgn)
    compare_gradients(model, x, labels, rtol=1e-6)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    activation=st.sampled_from(ACTIVATIONS),
    batchnorm=st.booleans(),
    bgn=st.booleans(),
    hidden=st.lists(st.integers(2, 40), min_size=5, max_size=9),
    batch=st.integers(3, 33),
)
def test_random_architectures_match_torch_autograd(seed, activation, batchnorm, bgn, hidden, batch):
    """Batches start at 3: with N = 2, BN maps each feature to exactly +-1 (times gamma), and
    the gradients of the parameters below it are then 0 in exact arithmetic (pure rounding in
    both libraries, with no relative error to compare)."""
    model, x, labels = make_case(seed, activation, batchnorm, bgn, hidden=hidden, batch=batch)
    compare_gradients(model, x, labels, rtol=1e-6)


@pytest.mark.parametrize("bgn", [False, True], ids=["plain", "bgn"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_eval_mode_batchnorm_gradients_match_torch(activation, bgn):
    """In evaluation BN uses the running statistics. Torch keeps an unbiased running variance,
    so tinybgn's (biased, Keras) running statistics are copied into torch before comparing."""
    model, x, labels = make_case(7, activation, True, bgn)
    rng = np.random.default_rng(8)
    for layer in model.layers:
        if isinstance(layer, BatchNorm):
            layer.buffers["running_mean"][...] = rng.normal(0, 0.3, layer.features)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, layer.features)
    compare_gradients(model, x, labels, rtol=1e-6, training=False)


def test_bgn_backward_output_layer_matches_torch():
    """``bgn_output=True`` puts a BGN after the last Dense too (a variant the paper's Keras
    model does not have); the oracle handles it the same way."""
    rng = np.random.default_rng(3)
    model = mlp(
        9,
        [11, 7, 13, 8, 10],
        N_CLASSES,
        "tanh",
        True,
        True,
        bgn_output=True,
        seed=3,
        dtype=np.float64,
    )
    x, labels = rng.standard_normal((6, 9)), rng.integers(0, N_CLASSES, size=6)
    compare_gradients(model, x, labels, rtol=1e-6)


# -- gradients, float32 (tinybgn's default dtype) against the float64 oracle -----------------
@pytest.mark.parametrize("bgn", [False, True], ids=["plain", "bgn"])
@pytest.mark.parametrize("batchnorm", [False, True], ids=["nobn", "bn"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float32_network_gradients_match_float64_oracle(activation, batchnorm, bgn):
    """tinybgn in float32 vs torch in float64 on the same (float32-representable) weights.

    Each layer adds a rounding error of a few float32 ulps (6e-8) relative, amplified through
    six layers and BN's 1/std; 1e-4 norm-wise leaves a wide margin while a wrong formula still
    gives errors near 1. The elementwise check is left to the float64 tests."""
    model32, x, labels = make_case(0, activation, batchnorm, bgn, dtype=np.float32)
    model64 = mlp(
        x.shape[1],
        [lay.out_features for lay in model32.layers if isinstance(lay, Dense)][:-1],
        N_CLASSES,
        activation,
        batchnorm,
        bgn,
        dtype=np.float64,
    )
    model64.load_state_dict({k: v.astype(np.float64) for k, v in model32.state_dict().items()})
    net, params = to_torch(model64)
    loss, dx, grads = tinybgn_step(model32, x, labels)
    assert dx.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    t_loss, t_dx, t_grads = torch_step(net, params, x.astype(np.float64), labels)
    assert abs(loss - t_loss) <= 1e-5 * abs(t_loss)
    assert norm_rel_error(dx, t_dx) <= 1e-4, "dL/dx"
    compare_parameter_grads(model32, grads, t_grads, 1e-4, noise=1e-5, elementwise=False)


# -- Adam and BN running statistics over several training steps -----------------------------
@pytest.mark.parametrize(
    "activation, batchnorm, bgn, lr, betas, eps",
    [
        ("relu", False, False, 1e-3, (0.9, 0.999), 1e-7),  # tinybgn's (Keras's) default eps
        ("relu", True, True, 1e-3, (0.9, 0.999), 1e-8),  # torch's default eps
        ("tanh", False, True, 3e-3, (0.8, 0.99), 1e-3),  # a large, non-default eps and betas
        ("sigmoid", True, False, 1e-2, (0.5, 0.9), 1e-5),
    ],
)
def test_adam_steps_match_torch_optim_adam(activation, batchnorm, bgn, lr, betas, eps):
    """Six full training steps (forward, loss, backward, Adam) on fresh batches: after every
    step all parameters equal torch's to 1e-10 relative (they differ only by rounding)."""
    model, _, _ = make_case(11, activation, batchnorm, bgn)
    net, params = to_torch(model)
    net.train()
    opt = Adam(model.parameters(), lr=lr, beta1=betas[0], beta2=betas[1], eps=eps)
    t_opt = torch.optim.Adam([p for _, p in params], lr=lr, betas=betas, eps=eps)
    in_features = model.layers[0].in_features
    rng = np.random.default_rng(12)
    for step in range(6):
        x = rng.standard_normal((16, in_features))
        labels = rng.integers(0, N_CLASSES, size=16)
        loss, _, _ = tinybgn_step(model, x, labels)
        opt.step()
        t_loss, _, _ = torch_step(net, params, x, labels)
        t_opt.step()
        assert abs(loss - t_loss) <= 1e-10 * abs(t_loss), f"step {step}: loss"
        # A Dense bias that feeds BN has a gradient of pure rounding noise (see
        # compare_parameter_grads), which Adam normalises to steps of about lr in a random
        # direction, different in each library. Such a bias cannot change the network's output
        # (BN subtracts it again), so it is left out; everything else must agree.
        mine = {name: p for name, p, _ in model.named_parameters()}
        ignored = zero_bias_grads(model)
        kept = [(name, p.detach().numpy()) for name, p in params if name not in ignored]
        for name, ref in kept:
            assert_close(f"step {step}: {name}", mine[name], ref, rtol=1e-10)
        assert_close(
            f"step {step}: all params",
            np.concatenate([mine[k].ravel() for k, _ in kept]),
            np.concatenate([ref.ravel() for _, ref in kept]),
            1e-10,
        )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bn_running_statistics_match_torch(activation):
    """After k training steps, running_mean is the same in both. Running variances differ by
    design: torch averages the unbiased batch variance var_u = var_b * N / (N - 1), Keras and
    tinybgn the biased var_b. Starting both at 1 with momentum m (Keras convention),

        torch:   r_t = m^k + (1 - m) sum_i m^(k-i) var_u,i
        tinybgn: r   = m^k + (1 - m) sum_i m^(k-i) var_b,i = m^k + (r_t - m^k) (N - 1) / N

    so the check is exact, not approximate. (Only the statistics differ; the forward pass in
    training normalises with the biased variance in both libraries.)"""
    model, _, _ = make_case(21, activation, True, True)
    # A faster momentum than Keras's 0.99 so the statistics move visibly in a few steps.
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    for bn in bns:
        bn.momentum = 0.7
    net, params = to_torch(model)
    net.train()
    opt = Adam(model.parameters(), lr=1e-2)
    t_opt = torch.optim.Adam([p for _, p in params], lr=1e-2, eps=1e-7)
    rng = np.random.default_rng(22)
    n, steps, m = 12, 5, 0.7
    mine_params = {name: p for name, p, _ in model.named_parameters()}
    for _ in range(steps):
        x = rng.standard_normal((n, model.layers[0].in_features)) * 2 + 0.5
        labels = rng.integers(0, N_CLASSES, size=n)
        tinybgn_step(model, x, labels)
        opt.step()
        torch_step(net, params, x, labels)
        t_opt.step()
        # The Dense biases that feed BN get pure rounding-noise gradients (see
        # compare_parameter_grads), so Adam moves them by different ~1e-10 steps in each
        # library. They cannot change any output, but they do enter the batch mean: copy them
        # across so that running_mean is compared on the same network.
        with torch.no_grad():
            for name, p in params:
                if name in zero_bias_grads(model):
                    p.copy_(torch.from_numpy(mine_params[name].copy()))
    t_bns = [mod for mod in net if isinstance(mod, torch.nn.BatchNorm1d)]
    assert len(t_bns) == len(bns) and all(t.momentum == pytest.approx(1 - m) for t in t_bns)
    for i, (bn, t_bn) in enumerate(zip(bns, t_bns, strict=True)):
        r_mean = t_bn.running_mean.numpy()
        r_var_unbiased = t_bn.running_var.numpy()
        r_var_biased = m**steps + (r_var_unbiased - m**steps) * (n - 1) / n
        assert_close(f"BN {i} running_mean", bn.buffers["running_mean"], r_mean, 1e-10)
        assert_close(f"BN {i} running_var", bn.buffers["running_var"], r_var_biased, 1e-10)
        assert norm_rel_error(bn.buffers["running_var"], r_var_unbiased) > 1e-3  # really differ


# -- graphs: residual networks and a shared layer -------------------------------------------
TORCH_ACTIVATIONS = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}


class TorchResidualMLP(torch.nn.Module):
    """residual_mlp's architecture, written for torch from its docstring::

    h = f(BGN(BN(Linear(x))))                 stem (BN, BGN optional)
    h = trunk_BGN(h + F_b(h))  for each block  F_b = block_size x [Linear, BN, BGN, f]
    logits = Linear(h)
    """

    def __init__(self, in_features, width, depth, out, activation, batchnorm, bgn, placement,
                 block_size, dtype):  # fmt: skip
        super().__init__()
        in_branch = bgn and placement in ("branch", "both")
        on_trunk = bgn and placement in ("trunk", "both")

        def unit(fan_in):
            mods = [torch.nn.Linear(fan_in, width, dtype=dtype)]
            if batchnorm:
                mods.append(torch.nn.BatchNorm1d(width, eps=1e-3, momentum=0.01, dtype=dtype))
            if in_branch:
                mods.append(TorchBGN())
            mods.append(TORCH_ACTIVATIONS[activation]())
            return torch.nn.Sequential(*mods)

        self.stem = unit(in_features)
        n_blocks = (depth - 1) // block_size
        self.blocks = torch.nn.ModuleList(
            torch.nn.Sequential(*[unit(width) for _ in range(block_size)]) for _ in range(n_blocks)
        )
        self.trunk = [TorchBGN() if on_trunk else torch.nn.Identity() for _ in range(n_blocks)]
        self.head = torch.nn.Linear(width, out, dtype=dtype)

    def forward(self, x):
        h = self.stem(x)
        for block, trunk in zip(self.blocks, self.trunk, strict=True):
            h = trunk(h + block(h))
        return self.head(h)


def copy_weights_to_torch(model, net) -> list[tuple[str, torch.Tensor]]:
    """Copy Dense and BatchNorm parameters (and BN statistics) from ``model`` into the torch
    ``net``, in order; returns ``[(tinybgn_name, torch_parameter)]``."""
    mine = [(i, layer) for i, layer in enumerate(model.layers) if layer.params]
    theirs = [m for m in net.modules() if isinstance(m, torch.nn.Linear | torch.nn.BatchNorm1d)]
    assert len(mine) == len(theirs), "the two architectures differ"
    params = []
    with torch.no_grad():
        for (i, layer), mod in zip(mine, theirs, strict=True):
            prefix = f"{i}.{type(layer).__name__}"
            if isinstance(layer, Dense):
                assert isinstance(mod, torch.nn.Linear) and mod.weight.shape == layer.W.shape
                mod.weight.copy_(torch.from_numpy(layer.W.copy()))
                mod.bias.copy_(torch.from_numpy(layer.b.copy()))
                params += [(f"{prefix}.W", mod.weight), (f"{prefix}.b", mod.bias)]
            else:
                assert isinstance(mod, torch.nn.BatchNorm1d)
                mod.weight.copy_(torch.from_numpy(layer.params["gamma"].copy()))
                mod.bias.copy_(torch.from_numpy(layer.params["beta"].copy()))
                params += [(f"{prefix}.gamma", mod.weight), (f"{prefix}.beta", mod.bias)]
    return params


def residual_case(seed, activation, batchnorm, bgn, placement, block_size=1, depth=5):
    rng = np.random.default_rng(seed)
    width, in_features, batch = int(rng.integers(5, 16)), int(rng.integers(6, 20)), 9
    kw = dict(block_size=block_size, bgn_placement=placement, seed=seed, dtype=np.float64)
    model = residual_mlp(in_features, [width] * depth, N_CLASSES, activation, batchnorm, bgn, **kw)
    for layer in model.layers:  # non-trivial BN affine parameters, as in make_case
        if isinstance(layer, BatchNorm):
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, layer.features)
            layer.params["beta"][...] = rng.uniform(-0.5, 0.5, layer.features)
    net = TorchResidualMLP(
        in_features, width, depth, N_CLASSES, activation, batchnorm, bgn, placement,
        block_size, torch.float64,
    )  # fmt: skip
    params = copy_weights_to_torch(model, net)
    x = rng.standard_normal((batch, in_features))
    labels = rng.integers(0, N_CLASSES, size=batch)
    return model, net, params, x, labels


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "batchnorm, bgn, placement",
    [
        (False, False, "branch"),
        (False, True, "branch"),
        (True, True, "branch"),
        (True, True, "trunk"),
        (False, True, "both"),
        (True, False, "branch"),
    ],
)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_residual_network_gradients_match_torch_autograd(activation, batchnorm, bgn, placement,
                                                         seed):  # fmt: skip
    model, net, params, x, labels = residual_case(seed, activation, batchnorm, bgn, placement)
    net.train()
    loss, dx, grads = tinybgn_step(model, x, labels)
    t_loss, t_dx, t_grads = torch_step(net, params, x, labels)
    assert abs(loss - t_loss) <= 1e-6 * abs(t_loss), f"loss {loss!r} vs torch {t_loss!r}"
    assert_close("dL/dx", dx, t_dx, 1e-6)
    compare_parameter_grads(model, grads, t_grads, 1e-6, noise=1e-10)


@pytest.mark.parametrize("block_size", [2, 3])
def test_residual_blocks_of_several_layers_match_torch(block_size):
    model, net, params, x, labels = residual_case(
        5, "tanh", True, True, "branch", block_size=block_size, depth=1 + 2 * block_size
    )
    net.train()
    loss, dx, grads = tinybgn_step(model, x, labels)
    t_loss, t_dx, t_grads = torch_step(net, params, x, labels)
    assert abs(loss - t_loss) <= 1e-6 * abs(t_loss)
    assert_close("dL/dx", dx, t_dx, 1e-6)
    compare_parameter_grads(model, grads, t_grads, 1e-6, noise=1e-10)


def test_shared_layer_gradient_matches_torch_and_is_the_sum_over_uses():
    """One Dense D used twice, y = Out(tanh(D(BGN(tanh(D(x)))))): torch calls one nn.Linear
    twice and autograd sums its gradient over both uses; tinybgn must give the same."""
    rng = np.random.default_rng(9)
    d = Dense(7, 7, rng=rng, dtype=np.float64)
    d.params["b"][...] = rng.normal(size=7)
    out = Dense(7, N_CLASSES, rng=rng, dtype=np.float64)
    x = Input(7)
    model = Model(x, out(Tanh()(d(BGN()(Tanh()(d(x)))))))
    lin = torch.nn.Linear(7, 7, dtype=torch.float64)
    head = torch.nn.Linear(7, N_CLASSES, dtype=torch.float64)
    with torch.no_grad():
        for mod, layer in ((lin, d), (head, out)):
            mod.weight.copy_(torch.from_numpy(layer.W.copy()))
            mod.bias.copy_(torch.from_numpy(layer.b.copy()))
    bgn = TorchBGN()

    def net(t):
        return head(torch.tanh(lin(bgn(torch.tanh(lin(t))))))

    params = [("0.Dense.W", lin.weight), ("0.Dense.b", lin.bias)]
    params += [("4.Dense.W", head.weight), ("4.Dense.b", head.bias)]
    assert [n for n, _, _ in model.named_parameters()] == [n for n, _ in params]
    xb, labels = rng.standard_normal((8, 7)), rng.integers(0, N_CLASSES, size=8)
    loss, dx, grads = tinybgn_step(model, xb, labels)
    t_loss, t_dx, t_grads = torch_step(net, params, xb, labels)
    assert abs(loss - t_loss) <= 1e-12 * abs(t_loss)
    assert_close("dL/dx", dx, t_dx, 1e-6)
    for name in grads:
        assert_close(name, grads[name], t_grads[name], 1e-6)


def test_skip_from_the_input_matches_torch():
    """y = Out(x + tanh(D(x))): the input itself fans out (to D and to the Add)."""
    rng = np.random.default_rng(10)
    d, out = Dense(6, 6, rng=rng, dtype=np.float64), Dense(6, N_CLASSES, rng=rng, dtype=np.float64)
    x = Input(6)
    model = Model(x, out(Add()(x, Tanh()(d(x)))))
    lin = torch.nn.Linear(6, 6, dtype=torch.float64)
    head = torch.nn.Linear(6, N_CLASSES, dtype=torch.float64)
    with torch.no_grad():
        for mod, layer in ((lin, d), (head, out)):
            mod.weight.copy_(torch.from_numpy(layer.W.copy()))
            mod.bias.copy_(torch.from_numpy(layer.b.copy()))
    params = [("0.Dense.W", lin.weight), ("0.Dense.b", lin.bias)]
    params += [("3.Dense.W", head.weight), ("3.Dense.b", head.bias)]
    xb, labels = rng.standard_normal((8, 6)), rng.integers(0, N_CLASSES, size=8)
    loss, dx, grads = tinybgn_step(model, xb, labels)
    t_loss, t_dx, t_grads = torch_step(lambda t: head(t + torch.tanh(lin(t))), params, xb, labels)
    assert_close("dL/dx", dx, t_dx, 1e-6)
    for name in grads:
        assert_close(name, grads[name], t_grads[name], 1e-6)
