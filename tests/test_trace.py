"""The backward trace (tinybgn/trace.py): K, kappa and d, prod 1/n_j (eq. 9), ||grad_W L|| and
||grad_b L|| (eqs. 10-11), eq. (7) at the activation+BGN pair, lines of at most 100 characters,
trace="values", graphs, and the picture (plot_backward)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

import tinybgn as tb
from tinybgn import BGN, Add, Dense, Input, Model, Tanh
from tinybgn.errors import StateError
from tinybgn.trace import LINE_WIDTH, TraceStep, format_trace

matplotlib.use("Agg")


def _traced(model, batch=6, seed=0, trace=True):
    rng = np.random.default_rng(seed)
    features = next(layer for layer in model.layers if isinstance(layer, Dense)).in_features
    x = rng.normal(size=(batch, features)).astype(model.dtype)
    _, dlogits = tb.softmax_cross_entropy(model.forward(x), rng.integers(0, 3, batch))
    model.backward(dlogits, trace=trace)
    return model.last_trace, dlogits


def test_probes_fields_are_kept():
    """tinybgn.probes reads these TraceStep fields; they must stay (new ones are added)."""
    names = list(TraceStep.__dataclass_fields__)
    assert names[:6] == ["index", "layer", "equation", "grad_in", "grad_out", "note"]


@pytest.mark.parametrize(
    "build",
    [
        lambda: tb.mlp(784, [64] * 90, 10, "relu", True, True),
        lambda: tb.mlp(784, [512] * 3, 10, "sigmoid", True, True, bgn_scope="sample"),
        lambda: tb.residual_mlp(784, [64] * 120, 10, "relu", True, True, bgn_placement="both"),
    ],
    ids=["mlp-90", "per-sample", "residual-120"],
)
def test_every_line_fits_in_100_characters(build, capsys):
    model = build()
    _traced(model, batch=4)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(model.nodes) + 2  # header, legend, one line per node
    too_long = [line for line in printed if len(line) > LINE_WIDTH]
    assert not too_long, too_long[:3]


def test_K_numbers_dense_layers_1_to_N_and_blocks_share_it():
    model = tb.mlp(5, [4, 4, 4], 3, "tanh", True, True, dtype=np.float64)
    steps, _ = _traced(model)
    dense = [s for s in steps if isinstance(s.layer, Dense)][::-1]  # input side first
    assert [s.K for s in dense] == [1, 2, 3, 4]  # N = 4: the output layer
    for s in steps:  # BN, BGN and the activation of block K carry K (the Dense below them)
        below = max(d.index for d in dense if d.index <= s.index)
        assert s.K == next(d.K for d in dense if d.index == below)


def test_chain_trace_shows_eq9_prod_eq10_eq11_and_bgn_kappa_d(capsys):
    """In a chain, each Dense's delta is the plain net's delta times the printed prod 1/n_j
    (eq. 9), and gW, gb are the norms of its gradients (eqs. 10-11)."""
    kw = dict(activation="tanh", seed=2, dtype=np.float64)
    with_bgn, plain = tb.mlp(5, [6] * 4, 3, bgn=True, **kw), tb.mlp(5, [6] * 4, 3, **kw)
    steps, _ = _traced(with_bgn)
    printed = capsys.readouterr().out
    collected, _ = _traced(plain, trace=lambda s: None)  # a callable: silent, steps kept
    dense_bgn = [s for s in steps if isinstance(s.layer, Dense)]
    dense_plain = [s for s in collected if isinstance(s.layer, Dense)]
    n = {s.index: s.layer.n_K for s in steps if isinstance(s.layer, BGN)}
    for a, b in zip(dense_bgn, dense_plain, strict=True):
        lo, hi = a.scale
        assert lo == hi
        expected = math.prod(1 / v for i, v in n.items() if i > a.index)
        assert lo == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(a.grad_in, b.grad_in * lo, rtol=1e-9)  # eq. (9)
        assert a.grad_norms["W"] == pytest.approx(np.linalg.norm(a.layer.grads["W"]), rel=1e-12)
        assert a.grad_norms["b"] == pytest.approx(np.linalg.norm(a.layer.grads["b"]), rel=1e-12)
        line = str(a)
        assert f"gW {a.grad_norms['W']:.2e}" in line and f"gb {a.grad_norms['b']:.2e}" in line
        assert f"{lo:.2e}" in line
    for s in (s for s in steps if isinstance(s.layer, BGN)):
        assert s.kappa == pytest.approx(math.sqrt(6)) and s.d == 6
        assert s.eq7  # the BGN sits just before an activation
        assert f"kappa {s.kappa:.3g} d 6 n_K {s.layer.n_K:.2e}" in str(s)
        assert "eq. (5), (7)" in str(s)
    assert "eq. (9)" in printed and "eqs. (10)-(11)" in printed


def test_eq7_holds_at_every_line_tagged_with_it():
    """At a BGN tagged eq. (7): its output is kappa [W^T delta^(K+1)] o f'(z^(K)) / ||...||,
    with [W^T delta^(K+1)] what the Dense above returned and o f' the activation's step."""
    model = tb.mlp(5, [6] * 4, 3, "tanh", bgn=True, seed=3, dtype=np.float64)
    steps, _ = _traced(model)
    tagged = [k for k, s in enumerate(steps) if s.eq7]
    assert len(tagged) == 4
    for k in tagged:
        dense_above, act, bgn = steps[k - 2], steps[k - 1], steps[k]
        assert isinstance(dense_above.layer, Dense) and isinstance(act.layer, Tanh)
        assert dense_above.K == bgn.K + 1 and act.K == bgn.K
        inner = dense_above.grad_out * (1 - act.layer.y**2)  # [W^T delta^(K+1)] o f'(z^(K))
        np.testing.assert_allclose(act.grad_out, inner, rtol=1e-14)
        expected = bgn.kappa * inner / np.linalg.norm(inner)  # eq. (7)
        np.testing.assert_allclose(bgn.grad_out, expected, rtol=1e-13)


def test_eq7_tag_only_where_bgn_feeds_an_activation():
    model = tb.residual_mlp(5, [4] * 3, 3, "tanh", bgn=True, bgn_placement="both", seed=1)
    steps, _ = _traced(model)
    for s in steps:
        if isinstance(s.layer, BGN):
            trunk = isinstance(model.nodes[s.index].inputs[0].layer, Add)
            assert s.eq7 is (not trunk)
            assert ("eq. (5), (7)" in str(s)) is (not trunk)


def test_graph_trace_shows_fan_out_add_inputs_and_path_ranges():
    x = Input(4, name="x")
    h = Tanh()(Dense(4, 4)(x, name="d1"), name="h")
    r = Tanh()(BGN()(Dense(4, 4)(h, name="d2"), name="bgn"), name="r")
    s = Add()(h, r, name="s")
    model = Model(x, Dense(4, 3)(s, name="out"))
    steps, _ = _traced(model)
    by_node = {st.node: st for st in steps}
    assert "= h + r" in str(by_node["s"])
    assert by_node["h"].fan_out == 2 and "sum of 2" in str(by_node["h"])
    lo, hi = by_node["h"].scale  # the skip path has factor 1, the branch path 1/n
    n = by_node["bgn"].layer.n_K
    assert sorted([lo, hi]) == pytest.approx(sorted([1.0, 1 / n]), rel=1e-12)
    assert f"{min(1, 1 / n):.0e}..{max(1, 1 / n):.0e}" in str(by_node["h"])
    assert by_node["out"].scale == (1.0, 1.0)


def test_shared_layer_lines_show_each_use():
    d = Dense(3, 3, rng=np.random.default_rng(0), dtype=np.float64)
    x = Input(3)
    model = Model(x, Dense(3, 3, dtype=np.float64)(d(Tanh()(d(x)))))
    steps, _ = _traced(model)
    uses = [s for s in steps if s.layer is d]
    assert len(uses) == 2
    total = sum(u.grads["W"] for u in uses)
    np.testing.assert_allclose(total, d.grads["W"], rtol=1e-14)  # each line: its own use
    assert uses[0].grad_norms["W"] != pytest.approx(uses[1].grad_norms["W"])


def test_trace_values_prints_the_arrays_of_a_tiny_net(capsys):
    model = tb.mlp(3, [2], 2, "tanh", bgn=True, seed=0, dtype=np.float64)
    steps, _ = _traced(model, batch=2, trace="values")
    printed = capsys.readouterr().out
    assert len(printed.splitlines()) > 2 + len(steps) * 2
    dense = steps[0]  # the output layer
    assert f"{dense.grad_in[0, 0]:.4f}"[:6] in printed
    assert "gW    = [[" in printed
    assert all(len(line) <= LINE_WIDTH for line in printed.splitlines())
    assert format_trace(steps, values=True).count("in    =") == len(steps)


def test_trace_values_abbreviates_large_arrays(capsys):
    model = tb.mlp(50, [40], 2, "tanh", seed=0, dtype=np.float64)
    _traced(model, batch=4, trace="values")
    printed = capsys.readouterr().out
    assert "..." in printed and all(len(line) <= LINE_WIDTH for line in printed.splitlines())


def test_a_per_sample_bgn_above_makes_the_product_undefined_below_it():
    """A per-sample BGN has one n_K per sample, so prod 1/n_j is no single number below it,
    even where a batch BGN follows (regression: that combination used to raise)."""
    x = Input(4)
    h = Tanh()(BGN(scope="sample")(Dense(4, 4)(Tanh()(BGN()(Dense(4, 4)(x))))))
    model = Model(x, Dense(4, 3)(h))
    steps, _ = _traced(model)  # output Dense, Tanh, per-sample BGN, Dense, Tanh, BGN, Dense
    assert steps[0].scale == steps[1].scale == (1.0, 1.0)  # nothing above them
    assert isinstance(steps[2].layer, BGN) and steps[2].layer.scope == "sample"
    assert isinstance(steps[5].layer, BGN) and isinstance(steps[5].n_K, float)
    assert all(s.scale is None for s in steps[2:]) and "per-sample" in str(steps[5])


def test_bad_trace_argument_is_rejected():
    model = tb.mlp(3, [2], 2)
    model.forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="trace must be"):
        model.backward(np.ones((2, 2), np.float32), trace="yes")


@pytest.mark.parametrize(
    "build",
    [
        lambda: tb.mlp(5, [4] * 3, 3, "tanh", bgn=True),
        lambda: tb.residual_mlp(5, [4] * 4, 3, "tanh", True, True),
    ],
    ids=["sequential", "residual"],
)
def test_plot_backward_draws_every_node_with_delta_and_n_K(build):
    model = build()
    steps = []
    _traced(model, trace=steps.append)
    fig = tb.plot_backward(model)  # the steps of model.last_trace
    assert model.last_trace == steps
    texts = [t.get_text() for t in fig.axes[0].texts]
    labels = [t for t in texts if "‖δ‖=" in t]
    assert len(labels) == len(model.nodes)
    for s in steps:
        label = next(t for t in labels if t.startswith(tb.trace.short_name(s.layer))
                     and f"‖δ‖={s.norm_in:.2e}" in t)  # fmt: skip
        if isinstance(s.layer, BGN):
            assert f"n_K={s.layer.n_K:.2e}" in label
    n_arcs = sum(1 for a in fig.axes[0].texts if getattr(a, "arrow_patch", None) is not None)
    assert n_arcs == sum(len(n.inputs) for n in model.nodes)  # one arrow per edge
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_backward_needs_a_trace():
    model = tb.mlp(5, [4], 3)
    with pytest.raises(StateError, match="no trace"):
        tb.plot_backward(model)
