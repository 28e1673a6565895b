"""Property-based gradient checks for any layer, yours included.

Test your own layer in three lines::

    from tinybgn.testing import check_layer

    check_layer(lambda features: Softplus())        # returns None, or raises AssertionError

``make_layer(features)`` returns a fresh layer (a :class:`tinybgn.Layer`) for a batch of
``features`` columns, e.g. ``lambda features: MyDense(features, 3, dtype=np.float64)``. It must
be deterministic (the same layer for the same ``features``): hypothesis replays examples to
shrink a failure. hypothesis then draws batch sizes, feature counts, inputs, parameter values
and upstream gradients, and on each example checks

(a) the layer contract of :mod:`tinybgn.layer`: ``backward`` before ``forward`` raises a
    :class:`~tinybgn.errors.StateError` naming the layer; ``forward`` returns a float64 batch;
    ``backward`` returns dL/dx of the input's shape; ``grads`` has the keys, shapes and dtypes
    of ``params``; ``backward`` *sets* ``grads`` in place (never accumulates);
(b) dL/dx and dL/d(every parameter) against central finite differences in float64
    (:func:`tinybgn.gradcheck`), in training and in evaluation mode;
(c) training and evaluation ``forward`` agree (unless ``batch_statistics=True``).

A failure is shrunk to the smallest example hypothesis can find (fewest samples first) and
raised as :class:`CheckFailure`, an ``AssertionError`` whose message names the property, the
layer and the example, and shows mine vs numeric (or mine vs the paper's equation) side by side.

:func:`check_bgn_like` does the same for layers whose backward is deliberately *not* the
derivative of their forward (BGN and its variants): the contract, then eqs. (4), (5), (8), (9)
and (10) of the paper as properties, never finite differences.

Public API (small and stable; every other name in this module is private)::

    check_layer(make_layer, *, max_examples=50, kinks=None, batch_statistics=False,
                bound=2.0, atol=None, rtol=None, seed=None) -> None
    check_bgn_like(make_layer, *, scope="batch", kappa=None, max_examples=50,
                   seed=None) -> None
    CheckFailure(AssertionError)      .property (str), .layer (str), .example (dict)
    floats(bound=2.0, kinks=None)                      hypothesis strategies
    shapes(min_rows=1, max_rows=6, min_cols=1, max_cols=6)
    batches(min_rows=1, max_rows=6, min_cols=1, max_cols=6, *, bound=2.0, kinks=None, shape=None)
    upstream_gradients(shape)
    BOUND = 2.0, KINK_MARGIN = 1e-3, RTOL = 1e-6, MAX_EXAMPLES = 50     the defaults above

``CheckFailure.example`` holds the shrunk example as arrays (``"x"``, ``"params"``, ``"dy"``; for
BGN ``"g"``, or the network's settings); ``.property`` is a sentence meant for people (e.g.
``"eq. (5): BGN_b(g) = kappa g / ||g||"``): show it, do not parse it.

``seed=None`` lets hypothesis draw new examples on every run; an integer gives the same
examples every run. No example database is written (nothing appears in your folder).

hypothesis is in tinybgn's ``test`` extra (``pip install "tinybgn[test]"``): ``import tinybgn``
never imports it, and importing this module without it raises an ImportError that says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np

try:
    import hypothesis
    from hypothesis import HealthCheck, Phase, assume, given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "tinybgn.testing needs hypothesis, which is in tinybgn's 'test' extra: "
        'pip install "tinybgn[test]" (or pip install hypothesis)'
    ) from exc

from tinybgn.bgn import BGN
from tinybgn.dense import Dense
from tinybgn.errors import StateError
from tinybgn.gradcheck import gradcheck, rel_error
from tinybgn.losses import softmax_cross_entropy
from tinybgn.mlp import mlp
from tinybgn.sequential import Sequential

__all__ = [
    "CheckFailure",
    "batches",
    "check_bgn_like",
    "check_layer",
    "floats",
    "shapes",
    "upstream_gradients",
]

#: Entries of drawn inputs and parameters lie in [-BOUND, BOUND]: well scaled, so that float64
#: finite differences are accurate to ~1e-9 (see tinybgn.gradcheck).
BOUND = 2.0
#: Inputs kept away from a kink stay this far from it: 1000 times the finite-difference step
#: h = 1e-6, so x - h and x + h are always on the same side of the kink.
KINK_MARGIN = 1e-3
MAX_ROWS, MAX_COLS = 6, 6
#: Examples per check by default: check_layer on a Dense layer takes well under 2 s.
MAX_EXAMPLES = 50
#: A correct backward agrees with central differences to ~1e-9 relative (h = 1e-6: truncation
#: O(h^2), rounding O(eps / h)); a wrong one is off by O(1). 1e-6 sits far from both.
RTOL = 1e-6
_H = 1e-6  # tinybgn.gradcheck's default step


# -- strategies ------------------------------------------------------------------------------
def floats(bound: float = BOUND, kinks: Sequence[float] | None = None):
    """float64 scalars in [-bound, bound]: never NaN, inf or subnormal.

    With ``kinks`` (e.g. ``[0.0]`` for ReLU), every value is at least ``KINK_MARGIN`` = 1e-3
    from each kink, where the derivative does not exist and finite differences straddle it.
    """
    lo, pieces = -float(bound), []
    for kink in sorted(kinks or ()):
        below, above = _step_off(kink, -1), _step_off(kink, +1)
        if below > lo:
            pieces.append((lo, min(below, bound)))
        lo = max(lo, above)
    if lo < bound:
        pieces.append((lo, float(bound)))
    if not pieces:
        raise ValueError(f"floats: no value in [-{bound}, {bound}] is clear of kinks {kinks}")
    return st.one_of(
        *(
            st.floats(a, b, allow_nan=False, allow_infinity=False, allow_subnormal=False)
            for a, b in pieces
        )
    )


def _step_off(kink: float, direction: int) -> float:
    """The float nearest to kink + direction * KINK_MARGIN that is at least KINK_MARGIN away
    (1.0 + 1e-3 rounds to a number 0.99999999999999989e-3 from 1.0)."""
    value = kink + direction * KINK_MARGIN
    while abs(value - kink) < KINK_MARGIN:
        value = float(np.nextafter(value, direction * np.inf))
    return value


def shapes(
    min_rows: int = 1, max_rows: int = MAX_ROWS, min_cols: int = 1, max_cols: int = MAX_COLS
):
    """Batch shapes ``(N, D)``; they shrink towards the fewest samples, then the fewest columns."""
    return st.tuples(st.integers(min_rows, max_rows), st.integers(min_cols, max_cols))


def batches(
    min_rows: int = 1,
    max_rows: int = MAX_ROWS,
    min_cols: int = 1,
    max_cols: int = MAX_COLS,
    *,
    bound: float = BOUND,
    kinks: Sequence[float] | None = None,
    shape: tuple[int, ...] | None = None,
):
    """float64 arrays of a shape from :func:`shapes` (or exactly ``shape``), entries from
    :func:`floats` (``bound``, ``kinks``)."""
    elements = floats(bound, kinks)
    if shape is not None:
        return arrays(np.float64, shape, elements=elements)
    dims = shapes(min_rows, max_rows, min_cols, max_cols)
    return dims.flatmap(lambda s: arrays(np.float64, s, elements=elements))


def upstream_gradients(shape: tuple[int, ...]):
    """A random upstream gradient dy = dL/dy of ``shape``: standard normal, from a drawn seed.

    Never all ones, nor any other structured array: with dy = 1 a correct BatchNorm gives
    dx = 0, so a backward that forgot the variance term passes too, and a BGN that did nothing
    would look right (STYLE.md, "Avoid"). hypothesis shrinks only the seed, so even the shrunk
    dy is a generic Gaussian and never all zeros.
    """
    shape = tuple(shape)
    return st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s).standard_normal(shape))


# -- failures --------------------------------------------------------------------------------
class CheckFailure(AssertionError):
    """A property failed. ``property`` names it, ``layer`` is the layer's repr, ``example`` holds
    the (shrunk) example: ``"x"``, ``"dy"`` (or ``"g"``) and ``"params"``, as arrays."""

    def __init__(self, prop: str, layer: str, example: dict, detail: str) -> None:
        self.property, self.layer, self.example = prop, layer, example
        lines = [f"{layer} fails the property: {prop}", _describe(example), detail]
        super().__init__("\n".join(line for line in lines if line))


def _describe(example: dict) -> str:
    lines = ["example (shrunk by hypothesis):"]
    for key, value in example.items():
        if isinstance(value, dict):
            lines += [f"  {key}[{k!r}] = {_fmt(v)}" for k, v in value.items()]
        else:
            lines.append(f"  {key} = {_fmt(value)}")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=8, separator=", ", threshold=64)
        return text.replace("\n", "\n      ")
    return repr(value)


def _side_by_side(mine, other, other_name: str = "numeric", rows: int = 12) -> str:
    """A table ``index | mine | other | difference``, largest differences first."""
    mine, other = np.asarray(mine, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if mine.shape != other.shape:
        return f"  mine has shape {mine.shape}, {other_name} has shape {other.shape}"
    diff = np.abs(mine - other).reshape(-1)
    order = np.argsort(-diff, kind="stable")[:rows]
    lines = [f"  {'index':<10} {'mine':>16} {other_name:>16} {'difference':>12}"]
    for i in order:
        index = np.unravel_index(i, mine.shape) if mine.ndim else ()
        a, b = mine.reshape(-1)[i], other.reshape(-1)[i]
        lines.append(f"  {str(tuple(map(int, index))):<10} {a:>16.8e} {b:>16.8e} {a - b:>12.2e}")
    if diff.size > rows:
        lines.append(f"  ... ({diff.size - rows} more entries, smaller differences)")
    return "\n".join(lines)


class _Example:
    """The current example and the layer's name, to build a CheckFailure from."""

    def __init__(self, layer_name: str, example: dict) -> None:
        self.layer, self.example = layer_name, example

    def fail(self, prop: str, detail: str = "") -> CheckFailure:
        return CheckFailure(prop, self.layer, self.example, detail)

    def require(self, ok, prop: str, detail: str = "") -> None:
        if not ok:
            raise self.fail(prop, detail)

    @contextmanager
    def step(self, prop: str):
        """Run part of the check; an exception from the layer fails ``prop``, naming it."""
        try:
            yield
        except CheckFailure:
            raise
        except Exception as exc:
            raise self.fail(prop, f"the layer raised {type(exc).__name__}: {exc}") from exc


def _name(layer) -> str:
    text = repr(layer)
    return type(layer).__qualname__ if text.startswith("<") else text


def _run(test: Callable, max_examples: int, seed: int | None) -> None:
    """Run ``test(data)`` under hypothesis: no deadline, no database, the simplest failure."""
    test = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        report_multiple_bugs=False,  # one clear failure, not a group of them
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        print_blob=False,
    )(given(st.data())(test))
    if seed is not None:
        test = hypothesis.seed(seed)(test)
    test()


# -- (a) the layer contract ------------------------------------------------------------------
def _contract(data, make_layer: Callable, x: np.ndarray, bound: float):
    """Check the contract of tinybgn/layer.py on one example, drawing the parameters and dy.

    Returns ``(ex, layer, params, y, dy)``: the example so far, the layer after forward and
    backward in training mode, the drawn parameter values, its output and the upstream gradient.
    """
    n, features = x.shape
    ex = _Example(f"make_layer({features})", {"x": x})
    with ex.step("make_layer(features) builds a layer"):
        fresh = make_layer(features)
    ex.layer = _name(fresh)

    prop = "backward before forward raises StateError naming the layer"
    try:
        fresh.backward(np.zeros((n, features)))
    except StateError as err:
        ex.require(repr(fresh) in str(err), prop, f"the message {str(err)!r} does not name it")
    except Exception as err:
        raise ex.fail(
            prop,
            f"it raised {type(err).__name__}: {err}; start backward with "
            "grad = self._check_grad(grad) (tinybgn.Layer) to get the StateError",
        ) from err
    else:
        raise ex.fail(prop, "backward(grad) returned without an error")

    with ex.step("make_layer(features) builds a layer"):
        layer = make_layer(features)
    _require_grads_like_params(ex, layer)
    prop = "parameters are float64 (finite differences need float64)"
    bad = {k: str(p.dtype) for k, p in layer.params.items() if p.dtype != np.float64}
    ex.require(not bad, prop, f"dtypes {bad}: build the layer with dtype=np.float64")
    # Redraw every parameter: defaults such as gamma = 1, b = 0 could hide a missing factor.
    params = {
        k: data.draw(arrays(np.float64, p.shape, elements=floats(bound)), label=f"params[{k!r}]")
        for k, p in layer.params.items()
    }
    ex.example["params"] = params
    _load(layer, params)
    grad_arrays = dict(layer.grads)

    prop = "forward returns a float64 batch of N rows"
    with ex.step(prop):
        y = layer.forward(x.copy(), training=True)
    ex.require(isinstance(y, np.ndarray), prop, f"forward returned {type(y).__name__}")
    ex.require(y.dtype == np.float64, prop, f"the output has dtype {y.dtype}")
    ex.require(y.ndim >= 1 and len(y) == n, prop, f"input shape {x.shape}, output {y.shape}")

    dy = data.draw(upstream_gradients(y.shape), label="dy")
    ex.example["dy"] = dy
    prop = "backward returns dL/dx, a float64 array of the input's shape"
    with ex.step(prop):
        dx = layer.backward(dy.copy())
    ex.require(isinstance(dx, np.ndarray), prop, f"backward returned {type(dx).__name__}")
    ex.require(dx.shape == x.shape, prop, f"input shape {x.shape}, dL/dx shape {dx.shape}")
    ex.require(dx.dtype == np.float64, prop, f"dL/dx has dtype {dx.dtype}")
    _require_grads_like_params(ex, layer)

    prop = "backward twice gives the same result: it sets grads in place, never accumulates"
    first_dx, first = dx.copy(), {k: g.copy() for k, g in layer.grads.items()}
    replaced = [k for k, g in layer.grads.items() if g is not grad_arrays.get(k)]
    ex.require(
        not replaced,
        prop,
        f"backward replaced grads{replaced} by new arrays; write into them instead "
        "(grads[k][...] = ... or out=grads[k]): Sequential keeps them as views of one buffer",
    )
    for g in layer.grads.values():
        g[...] = 1.0  # so that adding into grads shows even where the gradient is zero
    with ex.step(prop):
        dx = layer.backward(dy.copy())
    ex.require(
        np.array_equal(dx, first_dx),
        prop,
        "a second backward(dy) changed dL/dx:\n" + _side_by_side(dx, first_dx, "first call"),
    )
    for k, g in layer.grads.items():
        ex.require(
            np.array_equal(g, first[k]),
            prop,
            f"after grads[{k!r}] was filled with 1, a second backward(dy) gave (mine = second "
            "call):\n" + _side_by_side(g, first[k], "first call"),
        )
    return ex, layer, params, y, dy


def _require_grads_like_params(ex: _Example, layer) -> None:
    prop = "grads has the keys, shapes and dtypes of params"
    params, grads = getattr(layer, "params", None), getattr(layer, "grads", None)
    ex.require(isinstance(params, dict) and isinstance(grads, dict), prop, "no params/grads dicts")
    ex.require(params.keys() == grads.keys(), prop, f"params {list(params)}, grads {list(grads)}")
    for k, p in params.items():
        g = grads[k]
        ex.require(isinstance(p, np.ndarray), prop, f"params[{k!r}] is a {type(p).__name__}")
        ex.require(
            isinstance(g, np.ndarray) and g.shape == p.shape and g.dtype == p.dtype,
            prop,
            f"params[{k!r}]: {p.shape} {p.dtype}; grads[{k!r}]: "
            f"{getattr(g, 'shape', None)} {getattr(g, 'dtype', type(g).__name__)}",
        )


def _load(layer, params: dict) -> None:
    for k, value in params.items():
        layer.params[k][...] = value


# -- check_layer -----------------------------------------------------------------------------
def check_layer(
    make_layer: Callable,
    *,
    max_examples: int = MAX_EXAMPLES,
    kinks: Sequence[float] | None = None,
    batch_statistics: bool = False,
    bound: float = BOUND,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int | None = None,
) -> None:
    """Check a differentiable layer: contract, finite differences, training vs evaluation.

    Draws N (1-6, or 2-6 with ``batch_statistics``) and ``features`` (1-6), an input ``x`` from
    :func:`batches` (entries in [-bound, bound], ``KINK_MARGIN`` away from each of ``kinks``),
    every parameter from :func:`floats` and dy from :func:`upstream_gradients`; see the module
    docstring for the properties. Raises :class:`CheckFailure` (an AssertionError) on the
    shrunk example.

    Tolerances, per checked array (x and each parameter): ``||mine - numeric|| <=
    max(atol, rtol (||mine|| + ||numeric||))``. ``rtol`` defaults to 1e-6 (a correct backward
    errs by ~1e-9 in float64, a wrong one by ~1); ``atol`` defaults to ``rtol`` times
    :func:`tinybgn.gradcheck.rounding_floor`, the norm at which central differences are only
    rounding noise (a gradient that is truly ~0 is not compared relative to itself). Where an
    array misses, the numeric side is first refined by Richardson extrapolation from h and 2h,
    which removes the O(h^2) truncation error of strongly curved layers, so that only a wrong
    backward fails.

    ``batch_statistics=True`` is for layers whose training forward mixes samples (BatchNorm):
    batches have at least 2 rows, and training and evaluation outputs may differ.
    """
    rtol = RTOL if rtol is None else float(rtol)
    min_rows = 2 if batch_statistics else 1

    def layer_properties(data):
        n = data.draw(st.integers(min_rows, MAX_ROWS), label="N")
        features = data.draw(st.integers(1, MAX_COLS), label="features")
        x = data.draw(batches(shape=(n, features), bound=bound, kinks=kinks), label="x")
        ex, layer, params, y, dy = _contract(data, make_layer, x, bound)

        if not batch_statistics:
            prop = "training and evaluation forward agree (no batch statistics)"
            with ex.step(prop):
                y_eval = layer.forward(x.copy(), training=False)
            ex.require(
                np.shape(y_eval) == y.shape and np.allclose(y_eval, y, rtol=1e-12, atol=1e-300),
                prop,
                "if the layer uses batch statistics (like BatchNorm), pass "
                "batch_statistics=True\n" + _side_by_side(y_eval, y, "training"),
            )

        for training in (True, False):
            mode = "training" if training else "evaluation"
            prop = f"backward matches central finite differences ({mode} mode)"
            with ex.step(prop):
                result = gradcheck(_loaded(make_layer, x, params), x, dy, training=training)
            numeric = result.numeric
            misses = _misses(result, numeric, 1.0, atol, rtol)
            if misses:
                # h = 1e-6 leaves a truncation error h^2 f^(3) / 6, large where the layer curves
                # strongly (a BatchNorm of a nearly constant column): Richardson extrapolation
                # (4 n(h) - n(2h)) / 3 cancels it, for 1.5 times the rounding error.
                with ex.step(prop):
                    layer = _loaded(make_layer, x, params)
                    coarse = gradcheck(layer, x, dy, training=training, h=2 * _H).numeric
                numeric = {k: (4 * numeric[k] - coarse[k]) / 3 for k in coarse}
                misses = _misses(result, numeric, 1.5, atol, rtol)
            for name, detail in misses.items():
                label = "dL/dx" if name == "x" else f"dL/d{name} (grads[{name!r}])"
                mine = result.analytic[name]
                raise ex.fail(prop, f"{label}: {detail}\n" + _side_by_side(mine, numeric[name]))

    _run(layer_properties, max_examples, seed)


def _loaded(make_layer: Callable, x: np.ndarray, params: dict):
    layer = make_layer(x.shape[1])
    _load(layer, params)
    return layer


def _misses(result, numeric: dict, floor_factor: float, atol, rtol: float) -> dict[str, str]:
    """The arrays where mine and ``numeric`` differ by more than the allowed error, and why."""
    misses = {}
    for name, mine in result.analytic.items():
        diff = float(np.linalg.norm(mine - numeric[name]))
        sizes = float(np.linalg.norm(mine) + np.linalg.norm(numeric[name]))
        floor = floor_factor * result.floors[name]
        allowed = max(rtol * floor if atol is None else atol, rtol * sizes)
        if not diff <= allowed:
            misses[name] = (
                f"||mine - numeric|| = {diff:.3e} > allowed {allowed:.3e} "
                f"(relative error {diff / max(sizes, floor):.2e}, rtol {rtol:g})"
            )
    return misses


# -- check_bgn_like --------------------------------------------------------------------------
#: g is a standard normal array times 10^k, k in this range: the norm of such a g is within
#: float64's range even when computed naively (sum of squares), as a student's BGN may.
_EXPONENTS = (-100, 100)
#: ||BGN_b(g)|| is a norm of at most 48 numbers, computed with relative error ~48 eps ~ 1e-14.
_EQ5_RTOL = 1e-12
#: eq. (9) compares deltas after up to 9 layers of products in float64 (lesson 5's bound), or
#: 10 times the deltas' own rounding noise where that is larger, measured by rescaling dL/dlogits
#: by each of _NOISE_PROBES (not powers of two, so that the rescaling rounds).
_EQ9_RTOL = 1e-9
_NOISE_PROBES = (1 / 3, 0.7)


def check_bgn_like(
    make_layer: Callable,
    *,
    scope: str = "batch",
    kappa: float | None = None,
    max_examples: int = MAX_EXAMPLES,
    seed: int | None = None,
) -> None:
    """Check a BGN-like layer against the paper's equations (never by finite differences).

    ``make_layer(d)`` builds the layer for ``d`` features. With ``scope="batch"`` (the paper's
    method) the norm is over the whole batch tensor; ``scope="sample"`` is the per-sample
    variant. ``kappa=None`` means the paper's kappa = sqrt(d). Properties, each on examples
    drawn by hypothesis:

    * the layer contract (as in :func:`check_layer`);
    * eq. (4): forward is the identity, in training and evaluation mode (same values, dtype);
    * eq. (5): for g = a standard normal array times 10^k (|k| <= 100, some rows zero),
      ``BGN_b(g) = kappa g / ||g||`` - norm kappa to 1e-12 and the direction of g (per row for
      ``scope="sample"``, where a zero row stays zero); g = 0 gives zeros, not NaN;
    * eq. (8), if the layer exposes ``n_K`` (as :class:`tinybgn.BGN` does): n_K = ||g|| / kappa;
    * eq. (9): in random MLPs (depth 1-8, width 2-10, ReLU/sigmoid/tanh, with and without
      BatchNorm for ``scope="batch"``, batch 2-8) with this layer before every activation, each
      Dense layer's delta equals the plain network's times prod 1/n_j over the layers above it
      (row by row for ``scope="sample"``), to 1e-9; eq. (10): for ``scope="batch"`` the weight
      gradients keep their direction (cosine 1).
    """
    if scope not in ("batch", "sample"):
        raise ValueError(f"check_bgn_like: scope must be 'batch' or 'sample', got {scope!r}")

    def kappa_for(d: int) -> float:
        return math.sqrt(d) if kappa is None else float(kappa)

    def layer_properties(data):
        n = data.draw(st.integers(1, MAX_ROWS), label="N")
        d = data.draw(st.integers(1, 8), label="features")
        x = data.draw(batches(shape=(n, d)), label="x")
        ex, layer, _, y, _ = _contract(data, make_layer, x, BOUND)

        prop = "eq. (4): forward is the identity"
        with ex.step(prop):
            y_eval = layer.forward(x.copy(), training=False)
        for out, mode in ((y, "training"), (y_eval, "evaluation")):
            ex.require(
                out.dtype == x.dtype and np.array_equal(out, x),
                prop,
                f"{mode} mode:\n" + _side_by_side(out, x, "x"),
            )

        prop = "eq. (5): a zero gradient gives zeros, not NaN"
        with ex.step(prop), np.errstate(all="ignore"):
            out = layer.backward(np.zeros_like(x))
        ex.require(np.array_equal(out, np.zeros_like(x)), prop, _side_by_side(out, 0 * x, "zero"))

        k = data.draw(st.integers(*_EXPONENTS), label="k")
        zero_rows = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        unit = data.draw(upstream_gradients((n, d)), label="g / 10^k")
        unit[zero_rows] = 0
        ex.example.pop("dy")
        ex.example.update(g=unit * 10.0**k, k=k)
        _check_eq5(ex, layer, unit, k, kappa_for(d), scope)

    def network_properties(data):
        depth = data.draw(st.integers(1, 8), label="depth")
        width = data.draw(st.integers(2, 10), label="width")
        activation = data.draw(st.sampled_from(["relu", "sigmoid", "tanh"]), label="activation")
        batchnorm = scope == "batch" and data.draw(st.booleans(), label="batchnorm")
        bgn_output = data.draw(st.booleans(), label="bgn_output")
        batch = data.draw(st.integers(2, 8), label="batch")
        seed_ = data.draw(st.integers(0, 2**16), label="seed")
        net = dict(
            depth=depth,
            width=width,
            activation=activation,
            batchnorm=batchnorm,
            bgn_output=bgn_output,
            batch=batch,
            seed=seed_,
        )
        ex = _Example(f"make_layer({width})", dict(net))
        rng = np.random.default_rng(seed_)
        x, labels = rng.normal(size=(batch, 6)), rng.integers(0, 4, size=batch)
        ex.example.update(x=x, labels=labels)
        kwargs = dict(activation=activation, batchnorm=batchnorm, seed=seed_, dtype=np.float64)
        plain = mlp(6, [width] * depth, 4, **kwargs)
        template = mlp(6, [width] * depth, 4, bgn=True, bgn_output=bgn_output, **kwargs)
        layers, d = [], None
        with ex.step("make_layer(features) builds a layer"):
            for layer in template.layers:  # the same weights: BGN and BatchNorm draw nothing
                d = layer.out_features if isinstance(layer, Dense) else d
                layers.append(make_layer(d) if isinstance(layer, BGN) else layer)
        bgn_like = {i for i, layer in enumerate(template.layers) if isinstance(layer, BGN)}
        ex.layer = _name(layers[min(bgn_like)])
        with_bgn = Sequential(layers)

        deltas, grads_W, _, _ = _deltas(plain, x, labels, set(), kappa_for, scope)
        with ex.step("eq. (9): deltas are plain deltas times prod 1/n_j"):
            found = _deltas(with_bgn, x, labels, bgn_like, kappa_for, scope)
        deltas_bgn, grads_W_bgn, dense_at, n_j = found
        assume(all(np.all(n > 0) for n in n_j.values()))  # a dead ReLU layer keeps no direction
        # The rounding noise of these very deltas: the plain network's backward is linear in
        # dL/dlogits, so scaling it by c changes the result only by rounding. Where BatchNorm
        # on tiny batches cancels a delta down to ~1e-12 of its input, that noise is ~1e-7.
        noise, noise_W = np.zeros(len(deltas)), np.zeros(len(deltas))
        for c in _NOISE_PROBES:
            scaled, scaled_W, _, _ = _deltas(plain, x, labels, set(), kappa_for, scope, scale=c)
            for K in range(len(deltas)):
                noise[K] = max(noise[K], rel_error(scaled[K] / c, deltas[K], floor=0))
                noise_W[K] = max(noise_W[K], rel_error(scaled_W[K] / c, grads_W[K], floor=0))
        assume(np.all(noise < 1e-3))  # deltas that are all rounding noise cannot show eq. (9)
        for K, index in enumerate(dense_at):
            # every BGN-like layer after Dense K ("at and above" it in the paper's numbering)
            scales = [1 / n for i, n in n_j.items() if i > index]
            product = np.prod(scales, axis=0) if scales else np.float64(1.0)
            expected = deltas[K] * (product[:, None] if np.ndim(product) else product)
            error, allowed = (
                rel_error(deltas_bgn[K], expected, floor=0),
                max(_EQ9_RTOL, 10 * noise[K]),
            )
            ex.require(
                error < allowed,
                "eq. (9): deltas are plain deltas times prod 1/n_j",
                f"delta of Dense #{K} (layer {index}): relative error {error:.2e}, allowed "
                f"{allowed:.2e}; other = plain delta * prod 1/n_j:\n"
                + _side_by_side(deltas_bgn[K], expected, "eq. (9)"),
            )
            a, b = grads_W_bgn[K].ravel(), grads_W[K].ravel()
            if scope == "batch" and np.any(b):
                cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
                # a relative error e in grad_W moves the cosine by at most e^2 / 2
                ex.require(
                    abs(cosine - 1) <= max(1e-12, (10 * noise_W[K]) ** 2),
                    "eq. (10): weight gradients keep their direction",
                    f"Dense #{K}: cosine(grad_W with BGN, grad_W without) = {cosine!r}",
                )

    _run(layer_properties, max_examples, seed)
    _run(network_properties, max_examples, seed)


def _check_eq5(ex: _Example, layer, unit, k: int, kappa: float, scope: str) -> None:
    """eq. (5), and eq. (8) if the layer has ``n_K``, for one gradient g = unit * 10^k."""
    prop = "eq. (5): BGN_b(g) = kappa g / ||g||"
    g = unit * 10.0**k
    with ex.step(prop), np.errstate(all="ignore"):
        layer.forward(np.zeros_like(g))
        out = np.asarray(layer.backward(g.copy()), dtype=np.float64)
    ex.require(np.all(np.isfinite(out)), prop, "the output is not finite:\n" + _fmt(out))
    rows = [slice(None)] if scope == "batch" else [slice(i, i + 1) for i in range(len(g))]
    norms = []  # ||unit|| of the whole batch, or of each row
    for r in rows:
        u, o = unit[r], out[r]
        norms.append(float(np.linalg.norm(u)))
        where = "" if scope == "batch" else f"row {r.start}: "
        if norms[-1] == 0:
            ex.require(not np.any(o), prop, f"{where}a zero g must give zeros:\n{_fmt(o)}")
            continue
        expected = kappa * u / norms[-1]  # u = g / 10^k has the direction of g, and no overflow
        norm_o = float(np.linalg.norm(o))
        ex.require(
            abs(norm_o / kappa - 1) <= _EQ5_RTOL,
            prop,
            f"{where}||BGN_b(g)|| = {norm_o!r} (mine), kappa = {kappa!r} (eq. 5)\n"
            + _side_by_side(o, expected, "eq. (5)"),
        )
        ex.require(
            rel_error(o, expected, floor=0) <= _EQ5_RTOL,
            prop,
            f"{where}BGN_b(g) does not have the direction of g\n"
            + _side_by_side(o, expected, "eq. (5)"),
        )
    if hasattr(layer, "n_K"):
        prop = "eq. (8): n_K = ||g|| / kappa"
        expected = np.array(norms) * 10.0**k / kappa
        expected = expected[0] if scope == "batch" else expected
        n_K = np.asarray(layer.n_K, dtype=np.float64)
        ex.require(
            n_K.shape == np.shape(expected) and np.allclose(n_K, expected, rtol=_EQ5_RTOL, atol=0),
            prop,
            f"n_K = {_fmt(n_K)} (mine, shape {n_K.shape}), ||g|| / kappa = {_fmt(expected)} "
            f"(shape {np.shape(expected)})",
        )


def _deltas(model, x, labels, bgn_like: set[int], kappa_for: Callable, scope: str, scale=1.0):
    """delta^(K) = dL/dz and dL/dW at every Dense (input side first) with the Dense layers'
    indices, and n_j = ||g_j|| / kappa (eq. 8; one per row for ``scope="sample"``) at every
    BGN-like layer, keyed by its index. ``scale`` multiplies dL/dlogits."""
    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    dlogits *= scale
    deltas, n_j = {}, {}

    def record(step):
        if isinstance(step.layer, Dense):
            deltas[step.index] = step.grad_in.copy()
        elif step.index in bgn_like:
            g, kappa = step.grad_in, kappa_for(step.grad_in.shape[1])
            norm = np.linalg.norm(g) if scope == "batch" else np.linalg.norm(g, axis=1)
            n_j[step.index] = norm / kappa

    model.backward(dlogits, trace=record)
    dense_at = sorted(deltas)
    grads_W = [model.layers[i].grads["W"].copy() for i in dense_at]
    return [deltas[i] for i in dense_at], grads_W, dense_at, n_j
