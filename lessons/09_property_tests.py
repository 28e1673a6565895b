# %% [markdown]
# # Lesson 9 - Property-based gradient checking with hypothesis
#
# Every check so far used inputs we picked. A **property-based test** states something that
# must hold for *all* inputs of a kind - "for every batch shape and every bounded input, the
# backward pass agrees with finite differences" - and lets a library search for a
# counterexample. When it finds one, it *shrinks* it to the smallest failing input it can,
# which is usually the clearest bug report you will ever get.
#
# We use [hypothesis](https://hypothesis.readthedocs.io): `@given(...)` draws the inputs from
# *strategies* (`hypothesis.extra.numpy.arrays` for NumPy arrays, `st.integers`, ...), and
# `assume(...)` throws away inputs outside the property's domain. A function decorated with
# `@given` is an ordinary function: calling it runs the whole search. In a test file, pytest
# calls it for you (the solution of this lesson's exercise is such a file).
#
# The strategies we need come from `tinybgn.testing` (tinybgn's own tests use the same ones):
# `batches(...)` draws float64 arrays of shape (N, D) with bounded entries, optionally kept away
# from kinks such as ReLU's 0.
#
# You will write properties for Dense and BatchNorm (by finite differences), for BGN (by its
# definition, eqs. 5 and 9 - never by finite differences), watch hypothesis catch and shrink a
# bug, test a layer in three lines with `tinybgn.testing.check_layer`, and then write property
# tests for a layer of your own.

# %%
import matplotlib.pyplot as plt
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinybgn as tb
from tinybgn.course import FAST, save_figure
from tinybgn.testing import batches

EPS = np.finfo(np.float64).eps
# derandomize: the same examples on every run, so this lesson's output is reproducible.
SETTINGS = settings(
    max_examples=25 if FAST else 150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


def batch_of(n_min=1, n_max=5, d_min=1, d_max=5):
    """A strategy for float64 arrays of shape (N, D), entries in [-3, 3]."""
    return batches(n_min, n_max, d_min, d_max, bound=3.0)


# %% [markdown]
# ## Property 1: Dense backward agrees with finite differences
#
# For all batch sizes 1-5, input widths 1-5, output widths 1-4, weight seeds, and inputs in
# [-3, 3]: `gradcheck(Dense, x).worst < 1e-7`.
#
# One input must be excluded. `gradcheck` reports a *relative* error, and the numerical
# gradient carries an absolute rounding error of about `eps S / h ~ 1e-10` (lesson 1). If the
# true gradient is itself that small - `x` almost all zeros, so `grad_W = dy^T x ~ 0` - the
# relative error compares two kinds of noise and means nothing. `assume(max|x| >= 0.1)` states
# that domain; then the rounding estimate `sqrt(P) eps S / (h ||g||)` is at most ~1e-9, and
# 1e-7 leaves a margin of 100 while a real bug gives ~1.

# %%
dense_errors = []  # the worst error of every example, to see the margin afterwards


@SETTINGS
@given(x=batch_of(), n_out=st.integers(1, 4), seed=st.integers(0, 2**16))
def dense_matches_finite_differences(x, n_out, seed):
    assume(np.abs(x).max() >= 0.1)
    layer = tb.Dense(x.shape[1], n_out, rng=np.random.default_rng(seed), dtype=np.float64)
    result = tb.gradcheck(layer, x, seed=seed)
    dense_errors.append(result.worst)
    assert result.worst < 1e-7, f"mine vs finite differences: {result}"


dense_matches_finite_differences()
print(
    f"property 1 holds: Dense backward == finite differences on all {len(dense_errors)} "
    f"examples; worst error {max(dense_errors):.1e}"
)

fig, ax = plt.subplots(figsize=(6, 3.4))
ax.hist(np.log10(np.maximum(dense_errors, 1e-18)), bins=20)
ax.axvline(-7, color="red", label="the property's bound, 1e-7")
ax.set(
    xlabel="log10(worst relative error) per example",
    ylabel="examples",
    title="Dense gradcheck errors over hypothesis' examples",
)
ax.legend()
save_figure(fig, "09_dense_gradcheck_errors.png")

# %% [markdown]
# ## Watching hypothesis catch a bug
#
# A plausible bug: a Dense layer that uses only the **first** sample's delta for the bias
# gradient (forgetting the batch sum of eq. 2). Every test with a batch of one passes. What to
# expect: hypothesis finds a failing input almost at once, then shrinks it to the smallest one
# it can - a batch of exactly **2** samples, the minimal case that shows the bug. We record
# each input tried; the last one is the shrunk counterexample, which hypothesis replays at
# the end.


# %%
class FirstSampleBiasDense(tb.Dense):
    def backward(self, delta):
        grad_x = super().backward(delta)
        self.grads["b"][...] = delta[0]  # BUG: eq. (2) sums over the batch
        return grad_x


tried = []


@SETTINGS
@given(x=batch_of(), n_out=st.integers(1, 4), seed=st.integers(0, 2**16))
def buggy_dense_matches_finite_differences(x, n_out, seed):
    assume(np.abs(x).max() >= 0.1)
    tried.append(x.shape)
    layer = FirstSampleBiasDense(
        x.shape[1], n_out, rng=np.random.default_rng(seed), dtype=np.float64
    )
    result = tb.gradcheck(layer, x, seed=seed)
    assert result.worst < 1e-7, f"mine vs finite differences: {result}"


try:
    buggy_dense_matches_finite_differences()
    raise RuntimeError("hypothesis should have found the bug")
except AssertionError as failure:
    print("hypothesis found the bug:", str(failure).splitlines()[0])
    for note in getattr(failure, "__notes__", []):
        print("   ", note)
print(f"{len(tried)} inputs tried; the shrunk counterexample has shape {tried[-1]}")
assert tried[-1][0] == 2

# %% [markdown]
# ## Test your own layer in three lines
#
# Everything above - drawing shapes and inputs, a random upstream gradient, finite differences,
# shrinking - is packaged in `tinybgn.testing.check_layer`. You give it `make_layer(features)`,
# a function that builds a fresh layer for a batch of `features` columns. It checks the layer
# contract (shapes, `grads` keys = `params` keys, `backward` sets rather than accumulates,
# `backward` before `forward` raises), dL/dx and every parameter's gradient against central
# differences (in training and evaluation mode; parameters are redrawn so that `b = 0` cannot
# hide a bug), and that training and evaluation outputs agree. What to expect: the correct
# Dense passes silently; the buggy one raises an `AssertionError` that names the property and
# the layer, and shows the shrunk example - again a batch of 2 - and mine vs numeric side by side.

# %%
from tinybgn.testing import check_layer

check_layer(lambda features: tb.Dense(features, 3, dtype=np.float64), seed=0)
print("check_layer: Dense passes")

try:
    check_layer(lambda features: FirstSampleBiasDense(features, 3, dtype=np.float64), seed=0)
    raise RuntimeError("check_layer should have found the bug")
except AssertionError as failure:
    print(failure)
    assert failure.example["x"].shape[0] == 2 and "grads['b']" in str(failure)

# %% [markdown]
# For BatchNorm pass `batch_statistics=True` (its training output mixes samples), for ReLU
# `kinks=[0.0]`; for BGN-like layers, whose backward is deliberately not the derivative of
# their forward, `tinybgn.testing.check_bgn_like` checks eqs. (4), (5), (8), (9) and (10) instead.

# %% [markdown]
# ## Property 2: BatchNorm, with a domain
#
# BatchNorm needs **at least 2 samples** (with one, `x - mu = 0` and there is nothing to
# normalise), and a feature that is (almost) constant over the batch is a degenerate column:
# its `x_hat` is rounding noise divided by `sqrt(eps)`. We keep `N >= 2` in the strategy and
# `assume` every column has a standard deviation of at least 0.1. The gradient of `L = sum(y
# dy)` is then O(1), and the same 1e-7 applies.


# %%
@SETTINGS
@given(x=batch_of(n_min=2, n_max=6), seed=st.integers(0, 2**16))
def batchnorm_matches_finite_differences(x, seed):
    assume(np.all(x.std(axis=0) >= 0.1))
    layer = tb.BatchNorm(x.shape[1], dtype=np.float64)
    layer.params["gamma"][:] = np.random.default_rng(seed).uniform(0.5, 2.0, x.shape[1])
    result = tb.gradcheck(layer, x, seed=seed)
    assert result.worst < 1e-7, f"mine vs finite differences: {result}"


batchnorm_matches_finite_differences()
print("property 2 holds: BatchNorm backward == finite differences")

# %% [markdown]
# ## Property 3: BGN, by its definition
#
# BGN's backward is deliberately not the derivative of its forward (lesson 4), so we state
# eq. (5) itself as properties, for every non-zero `g` (entries in [-3, 3] and any `kappa`):
#
# * `||BGN_b(g)|| = kappa` (to `N d eps` relative: the rounding of a norm of `N d` numbers);
# * `BGN_b(g)` is `g` times one positive scalar (direction kept);
# * the upstream scale does not matter: `BGN_b(c g) = BGN_b(g)` for `c > 0`.


# %%
@SETTINGS
@given(g=batch_of(d_max=8), kappa=st.floats(0.1, 100.0), c=st.floats(1e-6, 1e6))
def bgn_follows_eq5(g, kappa, c):
    assume(np.any(g != 0))
    layer = tb.BGN(kappa=kappa)
    layer.forward(g)
    out = layer.backward(g).copy()
    tol = g.size * EPS + 4 * EPS
    assert abs(np.linalg.norm(out) / kappa - 1) < tol, (np.linalg.norm(out), kappa)
    scale = np.linalg.norm(out) / np.linalg.norm(g)
    assert np.allclose(out, scale * g, rtol=8 * EPS + tol, atol=0)
    assert np.allclose(layer.backward(c * g), out, rtol=8 * EPS + tol, atol=0)


bgn_follows_eq5()
print("property 3 holds: eq. (5) for every gradient tried")

# %% [markdown]
# ## Property 4: eq. (9) for random networks
#
# Lesson 7 checked eq. (9) on one network. As a property: for any depth 1-6, width 2-12,
# activation, seed and batch, every Dense delta of the BGN net equals the plain net's delta
# times `prod 1/n_j` over the BGN layers at and above it - to 1e-9 (lesson 7's bound). Layers
# are numbered as in the paper: Dense K (K = 1 .. N + 1) has BGN j = K .. N above it.


# %%
@SETTINGS
@given(
    depth=st.integers(1, 6),
    width=st.integers(2, 12),
    activation=st.sampled_from(["relu", "sigmoid", "tanh"]),
    seed=st.integers(0, 2**16),
    n=st.integers(1, 8),
)
def bgn_deltas_are_scaled_plain_deltas(depth, width, activation, seed, n):
    rng = np.random.default_rng(seed)
    x, labels = rng.standard_normal((n, 5)), rng.integers(0, 3, n)
    deltas, ns = {}, []
    for bgn in (False, True):
        model = tb.mlp(
            in_features=5,
            hidden=(width,) * depth,
            out_features=3,
            activation=activation,
            bgn=bgn,
            seed=seed,
            dtype=np.float64,
        )
        _, dlogits = tb.softmax_cross_entropy(model.forward(x), labels)
        steps = []
        model.backward(dlogits, trace=steps.append)
        deltas[bgn] = [s.grad_in for s in steps if isinstance(s.layer, tb.Dense)][::-1]
        ns = [s.layer.n_K for s in steps if isinstance(s.layer, tb.BGN)][::-1]
    n_j = dict(enumerate(ns, start=1))  # n_j of BGN j, j = 1 .. N
    for K, (plain, normed) in enumerate(zip(deltas[False], deltas[True], strict=True), start=1):
        assume(np.any(plain != 0))  # a dead ReLU layer: nothing to compare
        scale = np.prod([1 / n_j[j] for j in range(K, len(ns) + 1)])
        err = np.linalg.norm(normed - scale * plain) / np.linalg.norm(normed)
        assert err < 1e-9, (K, err)


bgn_deltas_are_scaled_plain_deltas()
print("property 4 holds: eq. (9) in every random network tried")

# %% [markdown]
# ## What you learned
#
# * A property names a domain (strategies + `assume`) and a claim with a tolerance you can
#   justify; hypothesis searches the domain and shrinks any counterexample.
# * Finite differences are checked with a *relative* error, so the domain must exclude inputs
#   whose true gradient is at the rounding floor.
# * BGN is tested against its definition (eqs. 5 and 9), never by finite differences.
# * `tinybgn.testing.check_layer(make_layer)` runs the whole recipe on any layer; for BGN-like
#   layers, `check_bgn_like(make_layer)` states eqs. (4), (5), (8), (9) and (10) instead.
#
# ## Exercises
#
# 1. **Your own layer.** Write a `Softplus` activation (`f(z) = log(1 + e^z)`, `f'(z) =
#    sigmoid(z)`) as a subclass of `tinybgn.activations.Activation`, stable for large `|z|`
#    (`np.logaddexp(0, z)`). Then write a pytest file with property tests: it passes
#    `check_layer` (finite differences and the layer contract, in three lines); it has no
#    trainable arrays; for all `z` in [-1000, 1000] its forward is finite, at least
#    `max(z, 0)`, and never negative. It is *not* positive everywhere in float64: `log(1 + e^z)
#    > 0` mathematically, but `e^z` underflows to 0 below `z` of about -745, so
#    `Softplus(-1000)` is exactly 0. State what does hold: `f(z) > 0` wherever `e^z > 0`.
# 2. **Eq. (9) with BatchNorm, as a property.** Extend property 4 to `batchnorm=True` (batch
#    size at least 2).
# 3. **A bug of your own.** Make your `Softplus` wrong in a way that only shows for some
#    inputs (for example `f'(z) = sigmoid(z)` only for `z > 0`, and `0.25` otherwise) and watch
#    your property find and shrink it.
#
# Worked solution: `lessons/solutions/test_lesson09_softplus.py` - run it with
# `pytest lessons/solutions/test_lesson09_softplus.py`.
