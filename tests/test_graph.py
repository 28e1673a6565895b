"""The graph engine (tinybgn/graph.py): the functional API, the chain rule at fan-out, shared
layers, errors that name the node, Sequential as the chain case, residual_mlp, and eq. (9) when
a skip bypasses BGN layers.

Gradient checks are central finite differences in float64 (tinybgn.gradcheck, tolerance 1e-6
as in test_gradients.py: a correct backward errs by ~1e-9, a wrong one by O(1)). BGN is left
out of them (its backward is not the derivative of its forward) and tested against eq. (9).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinybgn as tb
from tinybgn import BGN, Add, BatchNorm, Dense, Input, Model, Sigmoid, Tanh
from tinybgn.errors import GraphError, ShapeError

TOL = 1e-6


def _dense(i, o, rng):
    d = Dense(i, o, rng=rng, dtype=np.float64)
    d.params["b"][...] = rng.normal(size=o)  # non-zero biases
    return d


# -- the API ---------------------------------------------------------------------------------
def test_the_issue_example_builds_and_runs():
    x = tb.Input(784)
    h = tb.ReLU()(tb.Dense(784, 64)(x))
    r = tb.ReLU()(tb.BGN()(tb.Dense(64, 64)(h)))
    h = tb.Add()(h, r)
    model = tb.Model(x, tb.Dense(64, 10)(h))
    xb = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    assert model.forward(xb).shape == (5, 10)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "ReLU", "Dense", "BGN", "ReLU", "Add", "Dense"
    ]  # fmt: skip
    _, d = tb.softmax_cross_entropy(model.forward(xb), np.arange(5))
    assert model.backward(d).shape == xb.shape
    opt = tb.Adam(model.parameters())
    assert len(opt.pairs) == 1  # one flat buffer: Adam's coalesced fast path


def test_skip_connection_value_and_gradient_by_hand():
    """y = x + tanh(x W^T + b): dL/dx = g + (g o f'(z)) W, the sum over the two paths."""
    rng = np.random.default_rng(1)
    d = _dense(3, 3, rng)
    x = Input(3)
    model = Model(x, Add()(x, Tanh()(d(x))))
    xb, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    z = xb @ d.W.T + d.b
    assert np.allclose(model.forward(xb), xb + np.tanh(z), rtol=1e-14)
    expected = g + (g * (1 - np.tanh(z) ** 2)) @ d.W
    assert np.allclose(model.backward(g), expected, rtol=1e-13)


# -- random DAGs against finite differences -----------------------------------------------------
@st.composite
def dags(draw):
    """A random small graph with at least one fan-out, one Add and one shared layer (used
    twice), then up to 5 random extra nodes (Dense, Tanh/Sigmoid, BatchNorm, Add, another use of
    an existing Dense); the sinks are projected to 3 outputs and added, so every node matters."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    width = draw(st.integers(2, 4))
    x = Input(width)
    shared = _dense(width, width, rng)
    a = Tanh()(shared(x))  # x and a fan out
    b = shared(a)  # second use of the shared layer
    nodes = [x, a, b, Add()(a, b)]
    denses = [shared]
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["dense", "act", "bn", "add", "reuse"]))
        src = nodes[draw(st.integers(0, len(nodes) - 1))]
        if op == "dense":
            layer = _dense(src.features, draw(st.integers(2, 4)), rng)
            denses.append(layer)
            nodes.append(layer(src))
        elif op == "act":
            nodes.append(draw(st.sampled_from([Tanh, Sigmoid]))()(src))
        elif op == "bn":
            bn = BatchNorm(src.features, dtype=np.float64)
            bn.params["gamma"][...] = rng.uniform(0.5, 1.5, src.features)
            bn.params["beta"][...] = rng.normal(size=src.features)
            nodes.append(bn(src))
        elif op == "add":
            same = [n for n in nodes if n.features == src.features]
            nodes.append(Add()(src, same[draw(st.integers(0, len(same) - 1))]))
        else:
            fits = [d for d in denses if d.in_features == src.features]
            if fits:
                nodes.append(fits[draw(st.integers(0, len(fits) - 1))](src))
    used = {id(i) for n in nodes for i in n.inputs}
    sinks = [_dense(n.features, 3, rng)(n) for n in nodes if id(n) not in used]
    out = sinks[0] if len(sinks) == 1 else Add()(*sinks)
    batch = draw(st.integers(3, 5))
    return Model(x, out), rng.normal(size=(batch, width))


@settings(max_examples=40, deadline=None)
@given(case=dags(), seed=st.integers(0, 2**16))
def test_random_dags_match_finite_differences(case, seed):
    model, x = case
    assert any(n.layer is not None and sum(m.layer is n.layer for m in model.nodes) > 1
               for n in model.nodes)  # fmt: skip
    result = tb.gradcheck(model, x, seed=seed)
    assert result.worst < TOL, str(result)


@pytest.mark.parametrize("make", [Tanh, Sigmoid, lambda: BatchNorm(3, dtype=np.float64)])
def test_every_layer_kind_keeps_one_cache_per_use(make):
    """A shared activation / BatchNorm called on two different values: its backward for each
    use must read that use's cache (a layer that kept only the last forward would fail)."""
    rng = np.random.default_rng(3)
    shared = make()
    x = Input(3)
    first = shared(_dense(3, 3, rng)(x))
    second = shared(_dense(3, 3, rng)(Tanh()(first)))
    model = Model(x, _dense(3, 2, rng)(Add()(first, second)))
    result = tb.gradcheck(model, rng.normal(size=(5, 3)))
    assert result.worst < TOL, str(result)


# -- shared layers ---------------------------------------------------------------------------
def test_shared_layer_gradient_is_the_sum_over_its_uses():
    """y = D(tanh(D(x))) with one D, against the same net with two untied copies D1, D2 of D:
    the shared dL/dW must be dL/dW1 + dL/dW2 (and likewise for b)."""
    rng = np.random.default_rng(4)
    d = _dense(4, 4, rng)
    x = Input(4)
    tied = Model(x, d(Tanh()(d(x))))
    d1, d2 = copy.deepcopy(d), copy.deepcopy(d)
    x2 = Input(4)
    untied = Model(x2, d2(Tanh()(d1(x2))))
    xb, g = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    assert np.array_equal(tied.forward(xb), untied.forward(xb))
    assert np.allclose(tied.backward(g), untied.backward(g), rtol=1e-14, atol=0)
    for k in ("W", "b"):
        np.testing.assert_allclose(d.grads[k], d1.grads[k] + d2.grads[k], rtol=1e-14, atol=1e-15)
        assert not np.allclose(d1.grads[k], d2.grads[k])  # the two uses really differ
    assert tied.num_parameters() == d.W.size + d.b.size  # one W, one b
    names = [name for name, _, _ in tied.named_parameters()]
    assert names == ["0.Dense.W", "0.Dense.b"]


def test_backward_twice_gives_the_same_gradients_with_a_shared_layer():
    """Layers set their gradients; a shared layer's sum starts afresh on every backward."""
    rng = np.random.default_rng(5)
    d = _dense(3, 3, rng)
    x = Input(3)
    model = Model(x, d(Tanh()(d(x))))
    xb, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    model.forward(xb)
    model.backward(g)
    first = model.flat_grads.copy()
    model.backward(g)
    assert np.array_equal(first, model.flat_grads) and np.any(first)


@pytest.mark.parametrize("where", ["chain", "skip from the input", "shared on the input"])
def test_input_grad_false_gives_the_same_parameter_gradients(where):
    rng = np.random.default_rng(6)
    x = Input(5)
    if where == "chain":
        model = tb.mlp(5, [4, 4], 3, "tanh", True, True, seed=1, dtype=np.float64)
    elif where == "skip from the input":
        d = _dense(5, 5, rng)
        model = Model(x, _dense(5, 3, rng)(Add()(x, Tanh()(d(x)))))
    else:
        d = _dense(5, 5, rng)
        model = Model(x, _dense(5, 3, rng)(d(Tanh()(d(x)))))
    xb, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    model.forward(xb)
    dx = model.backward(g)
    full = model.flat_grads.copy()
    assert model.backward(g, input_grad=False) is None
    np.testing.assert_array_equal(model.flat_grads, full)
    assert np.array_equal(model.backward(g), dx)  # flags were reset
    assert all(layer.needs_input_grad for layer in model.layers)


# -- errors name the node ----------------------------------------------------------------------
def test_shape_mismatch_names_the_nodes():
    x = Input(8, name="pixels")
    h = Dense(8, 4)(x, name="hidden")
    with pytest.raises(
        ShapeError, match=r"out = Dense\(5, 2\)\(hidden\).*expects 5.*hidden gives 4"
    ):
        Dense(5, 2)(h, name="out")
    with pytest.raises(ShapeError, match=r"sum = Add\(\)\(pixels, hidden\).*pixels has 8"):
        Add()(x, h, name="sum")
    with pytest.raises(ShapeError, match=r"bn = BatchNorm.*expects 3 features"):
        BatchNorm(3)(h, name="bn")
    model = Model(x, h)
    with pytest.raises(ShapeError, match="input node pixels expects 8 features"):
        model.forward(np.zeros((2, 7), np.float32))


def test_unconnected_inputs_are_reported_by_name():
    x, other = Input(3, name="x"), Input(3, name="other")
    out = Add()(Dense(3, 3)(x, name="left"), Dense(3, 3)(other, name="right"), name="sum")
    with pytest.raises(
        GraphError, match="right reads input node other, which is not the model's input x"
    ):
        Model(x, out)
    with pytest.raises(GraphError, match="output d2 is not connected to the input x"):
        Model(x, Dense(3, 3)(other, name="d2"))


def test_a_cycle_is_reported_by_name():
    x = Input(3, name="x")
    a = Dense(3, 3)(x, name="a")
    b = Tanh()(a, name="b")
    a.inputs.append(b)  # a now reads b, which reads a (only possible by editing a node)
    a.inputs.remove(x)
    with pytest.raises(GraphError, match="cycle b -> a -> b"):
        Model(x, Tanh()(b, name="c"))


def test_bad_calls_are_reported():
    x = Input(3)
    with pytest.raises(GraphError, match="called on graph nodes.*layer.forward"):
        Dense(3, 3)(np.zeros((2, 3)))
    with pytest.raises(GraphError, match="takes two or more input nodes"):
        Add()(x)
    with pytest.raises(GraphError, match="takes one input node"):
        Dense(3, 3)(x, x)
    with pytest.raises(GraphError, match="must be an Input node"):
        Model(Dense(3, 3)(x), x)
    with pytest.raises(ShapeError, match="list of two or more arrays"):
        Add().forward(np.zeros((2, 3)))


# -- Sequential is the chain case --------------------------------------------------------------
def test_sequential_is_the_chain_case_of_model_with_the_old_state_keys():
    model = tb.mlp(6, [4, 4], 3, batchnorm=True, bgn=True)
    assert isinstance(model, Model)
    assert [n.layer for n in model.nodes] == model.layers  # one node per layer, in order
    # the keys the chain-only Sequential wrote, so its checkpoints still load
    old_keys = [f"{i}.{k}" for i, l in enumerate(model.layers) for k in {**l.params, **l.buffers}]
    assert list(model.state_dict()) == old_keys
    assert old_keys[:6] == ["0.W", "0.b", "1.gamma", "1.beta", "1.running_mean", "1.running_var"]


def test_model_state_dict_round_trip_and_modes():
    a = tb.residual_mlp(6, [4] * 3, 3, batchnorm=True, bgn=True, seed=1)
    b = tb.residual_mlp(6, [4] * 3, 3, batchnorm=True, bgn=True, seed=2)
    xb = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    a.forward(xb, training=True)  # moves the running statistics
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.eval().forward(xb), b.eval().forward(xb))
    assert a.training is False and a.train().training is True
    with pytest.raises(ShapeError, match="Model.load_state_dict: missing"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if k != "0.W"})


def test_layer_outputs_step_through_the_forward_pass():
    model = tb.residual_mlp(6, [4] * 3, 3, seed=1, dtype=np.float64)
    xb = np.random.default_rng(0).random((5, 6))
    outputs = list(model.layer_outputs(xb))
    assert len(outputs) == len(model.nodes)
    assert np.array_equal(outputs[-1][2], model.forward(xb))
    assert [i for i, _, _ in outputs] == list(range(len(model.layers)))


# -- residual_mlp ------------------------------------------------------------------------------
def test_residual_mlp_is_seeded_and_shares_mlp_weights():
    a = tb.residual_mlp(8, [5] * 5, 3, "tanh", True, True, seed=3)
    b = tb.residual_mlp(8, [5] * 5, 3, "tanh", True, True, seed=3)
    assert np.array_equal(a.flat_params, b.flat_params)
    xb = np.random.default_rng(0).random((4, 8)).astype(np.float32)
    assert np.array_equal(a.forward(xb), b.forward(xb))
    plain = tb.mlp(8, [5] * 5, 3, "tanh", seed=3)
    w_res = [layer.W for layer in a.layers if isinstance(layer, Dense)]
    w_mlp = [layer.W for layer in plain.layers if isinstance(layer, Dense)]
    assert all(np.array_equal(p, q) for p, q in zip(w_res, w_mlp, strict=True))
    assert not np.array_equal(a.flat_params, tb.residual_mlp(8, [5] * 5, 3, seed=4).flat_params)


@pytest.mark.parametrize(
    "placement, branch, trunk", [("branch", 5, 0), ("trunk", 0, 4), ("both", 5, 4)]
)
def test_residual_mlp_bgn_placements(placement, branch, trunk):
    model = tb.residual_mlp(8, [5] * 5, 3, bgn=True, bgn_placement=placement)
    kinds = {"branch": 0, "trunk": 0}
    for node in model.nodes:
        if isinstance(node.layer, BGN):
            kinds["trunk" if isinstance(node.inputs[0].layer, Add) else "branch"] += 1
    assert kinds == {"branch": branch, "trunk": trunk}
    assert sum(isinstance(n.layer, Add) for n in model.nodes) == 4
    assert len([layer for layer in model.layers if isinstance(layer, Dense)]) == 6


def test_residual_mlp_bgn_every_k_th_activation_as_mlp():
    model = tb.residual_mlp(8, [5] * 7, 3, bgn=True, bgn_every=3, bgn_placement="both")
    branch = [n for n in model.nodes if isinstance(n.layer, BGN) and n.name.startswith("bgn")]
    assert [n.name for n in branch] == ["bgn3", "bgn6"]  # layers K = 3, 6 (mlp's blocks k, 2k)
    assert sum(n.name.startswith("trunk_bgn") for n in model.nodes) == 6
    with pytest.raises(ValueError, match="bgn_every"):
        tb.residual_mlp(8, [5] * 3, 3, bgn=True, bgn_every=0)


def test_residual_mlp_blocks_and_bad_arguments():
    model = tb.residual_mlp(8, [5] * 7, 3, block_size=3)
    assert sum(isinstance(n.layer, Add) for n in model.nodes) == 2
    with pytest.raises(ValueError, match="do not split into blocks"):
        tb.residual_mlp(8, [5] * 6, 3, block_size=2)
    with pytest.raises(ValueError, match="repeat one width"):
        tb.residual_mlp(8, [5, 6, 6], 3)
    with pytest.raises(ValueError, match="seed must be"):
        tb.residual_mlp(8, [5] * 3, 3, seed=-1)
    with pytest.raises(ValueError, match="bgn_placement"):
        tb.residual_mlp(8, [5] * 3, 3, bgn=True, bgn_placement="everywhere")


# -- eq. (9) when a skip bypasses BGN layers -----------------------------------------------------
def _residual_pair(placement: str, blocks: int = 3, seed: int = 0):
    """The same residual net (same weights) with and without BGN, a batch and dL/dlogits."""
    kw = dict(activation="tanh", seed=seed, dtype=np.float64)
    with_bgn = tb.residual_mlp(6, [5] * (blocks + 1), 3, bgn=True, bgn_placement=placement, **kw)
    plain = tb.residual_mlp(6, [5] * (blocks + 1), 3, **kw)
    rng = np.random.default_rng(seed)
    xb, labels = rng.normal(size=(7, 6)), rng.integers(0, 3, 7)
    for net in (with_bgn, plain):
        _, dlogits = tb.softmax_cross_entropy(net.forward(xb), labels)
    return with_bgn, plain, dlogits


def _stem_delta(model, dlogits):
    steps = []
    model.backward(dlogits, trace=steps.append)
    return next(s for s in steps if s.K == 1 and isinstance(s.layer, Dense)).grad_in, steps


def _chain_back_to(node, stop):
    """The layers from ``stop`` (exclusive) up to ``node`` along first inputs, forward order."""
    layers = []
    while node is not stop:
        layers.append(node.layer)
        node = node.inputs[0]
    return layers[::-1]


def _path_sum(model, dlogits, with_factors: bool):
    """sum over backward paths P of (prod_{BGN j in P} 1/n_j) delta_P at the stem's Dense, each
    delta_P computed by running only the layers on P backward (BGN taken as the identity),
    with the n_j that each BGN layer kept from the network's last backward pass."""
    nodes = model.nodes
    adds = [n for n in nodes if isinstance(n.layer, Add)]
    factor = {id(n.layer): 1.0 / n.layer.n_K for n in nodes if isinstance(n.layer, BGN)}

    def run(layers, g):
        scale = 1.0
        for layer in reversed(layers):
            if isinstance(layer, BGN):
                scale *= factor[id(layer)] if with_factors else 1.0
            else:
                g = layer.backward(g)
        return g * scale

    blocks = []  # per Add: (branch layers, trunk BGN after it or [])
    for add in adds:
        branch = _chain_back_to(add.inputs[1], add.inputs[0])
        trunk = [n.layer for n in nodes if n.inputs == [add] and isinstance(n.layer, BGN)]
        blocks.append((branch, trunk))
    stem = _chain_back_to(adds[0].inputs[0], model.input)
    total = 0.0
    for choice in np.ndindex(*(2,) * len(blocks)):  # per block: 0 = the skip, 1 = the branch
        g = run([nodes[-1].layer], dlogits)  # the output Dense
        for take, (branch, trunk) in zip(choice, blocks[::-1], strict=True):
            g = run(trunk, g)
            if take:
                g = run(branch, g)
        total = total + run(stem[1:], g)  # the stem's BGN and activation, down to its Dense
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eq9_with_a_skip_is_a_sum_over_paths_each_scaled_by_its_own_bgn_layers(seed):
    """BGN before every activation (inside the residual branches): the delta of the stem's
    Dense is sum_P (prod_{j in P} 1/n_j) delta_P, and not a multiple of the plain delta."""
    with_bgn, plain, dlogits = _residual_pair("branch", seed=seed)
    delta_bgn, steps = _stem_delta(with_bgn, dlogits)
    delta_plain, _ = _stem_delta(plain, dlogits)
    np.testing.assert_allclose(_path_sum(plain, dlogits, False), delta_plain, rtol=1e-12)
    _stem_delta(with_bgn, dlogits)  # n_j of this pass (the path runs above used plain's layers)
    np.testing.assert_allclose(_path_sum(with_bgn, dlogits, True), delta_bgn, rtol=1e-10)
    cos = np.sum(delta_bgn * delta_plain) / np.linalg.norm(delta_bgn) / np.linalg.norm(delta_plain)
    assert cos < 1 - 1e-3, "the paths' different factors turn delta, not only scale it"
    lo, hi = next(s for s in steps if s.K == 1 and isinstance(s.layer, Dense)).scale
    assert hi > lo * (1 + 1e-6)  # the trace shows a range of path products


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eq9_holds_again_with_bgn_on_the_trunk(seed):
    """BGN after every Add: every path from the output to a layer crosses the same BGN layers,
    so delta_BGN^(K) = delta^(K) prod_j 1/n_j (eq. 9), with the product the trace shows."""
    with_bgn, plain, dlogits = _residual_pair("trunk", seed=seed)
    steps_bgn, steps_plain = [], []
    with_bgn.backward(dlogits, trace=steps_bgn.append)
    plain.backward(dlogits, trace=steps_plain.append)
    dense_bgn = [s for s in steps_bgn if isinstance(s.layer, Dense)]
    dense_plain = [s for s in steps_plain if isinstance(s.layer, Dense)]
    assert len(dense_bgn) == len(dense_plain) == 5
    for a, b in zip(dense_bgn, dense_plain, strict=True):
        lo, hi = a.scale
        assert hi == pytest.approx(lo, rel=1e-12)
        np.testing.assert_allclose(a.grad_in, b.grad_in * lo, rtol=1e-10)
