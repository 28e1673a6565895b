# %% [markdown]
# # Lesson 4 - The BGN layer: eqs. (4)-(5), stepped through line by line
#
# The paper's new layer does nothing on the way forward and one thing on the way back:
#
# $$\mathrm{BGN}_f(x) = x \quad (4) \qquad\qquad
#   \mathrm{BGN}_b(g) = \kappa \frac{g}{\|g\|} \quad (5)$$
#
# `||g||` is the L2 norm of the **whole batch tensor** (all samples, all features): the square
# root of the sum of the squares of all `N * d` entries. The paper calls it "the L2 matrix
# norm"; for a matrix that is the *Frobenius* norm, `np.linalg.norm(g)` - not the spectral norm
# `np.linalg.norm(g, 2)` (the largest singular value) that lesson 2's first exercise writes
# `||.||_2`. tinybgn uses the Frobenius norm, which is what "all the dimensions of the tensor
# are used" describes. The paper sets `kappa = sqrt(d)`, `d` being the size of one sample's
# gradient. Eq. (8) names the factor BGN divides by: `n_K = ||g|| / kappa`, so
# `BGN_b(g) = g / n_K`.
#
# In this lesson you will
#
# 1. check eqs. (4), (5) and (8) on `tinybgn.BGN` directly;
# 2. step through `BGN.backward` in a debugger (pdb or VS Code) - and, so that this notebook can
#    show it without you at the keyboard, with a tiny line tracer;
# 3. use `model.backward(grad, trace=True)` to watch eq. (5) act inside a network, as numbers;
# 4. see why BGN must never be checked with finite differences.

# %%
import linecache
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

import tinybgn as tb
from tinybgn.course import FAST, save_figure

rng = np.random.default_rng(0)
EPS = np.finfo(np.float64).eps
print(f"fast mode: {FAST}")

# %% [markdown]
# ## Eqs. (4), (5) and (8) on one layer
#
# A batch of N = 4 samples with d = 6 features. What to expect:
#
# * forward returns its input unchanged (eq. 4);
# * backward returns a tensor of norm exactly `kappa = sqrt(6)` up to rounding - a few `eps`
#   relative, since the norm of 24 numbers is computed with an error below `24 eps`;
# * the output is `g` times the single scalar `kappa / ||g||`: same direction, new length;
# * `n_K = ||g|| / kappa`, kept on the layer (eq. 8).

# %%
N, d = 4, 6
bgn = tb.BGN()  # kappa=None means sqrt(d), the paper's choice
x = rng.standard_normal((N, d))
assert np.array_equal(bgn.forward(x), x)  # eq. (4)

g = rng.standard_normal((N, d))
out = bgn.backward(g)
kappa = np.sqrt(d)
print(
    f"||g|| = {np.linalg.norm(g):.6f}   ||BGN_b(g)|| = {np.linalg.norm(out):.15f}   "
    f"kappa = {kappa:.15f}"
)
assert abs(np.linalg.norm(out) / kappa - 1) < N * d * EPS  # eq. (5): the norm is kappa
assert abs(bgn.n_K - np.linalg.norm(g) / kappa) <= 4 * EPS * bgn.n_K  # eq. (8)
ratio = out / g
assert np.ptp(ratio) <= 4 * EPS * np.abs(ratio).max()  # one scalar for all N * d entries
print(f"BGN_b(g) / g = {ratio.mean():.15f} everywhere = 1 / n_K = {1 / bgn.n_K:.15f}")

# %% [markdown]
# ## Stepping through `BGN.backward` in a debugger
#
# Reading code is good; watching it run is better. Three ways to stop inside `BGN.backward`:
#
# * **`pdb.runcall`** - from a Python prompt or a notebook cell:
#
#   ```python
#   import pdb; pdb.runcall(bgn.backward, g)
#   ```
#
#   stops at the first line of `backward`. Then `n` (next line), `s` (step into a call, e.g.
#   into `l2_norm`), `p self.g_norm`, `p kappa`, `pp locals()`, `ll` (list the function),
#   `c` (continue). Set `TINYBGN_DEBUG=1` and run this lesson to get exactly that prompt below.
# * **`breakpoint()`** - put `breakpoint()` in your own script right before
#   `model.backward(dlogits)`, run `python my_script.py`, then `s` your way into the layer.
#   Setting `PYTHONBREAKPOINT=0` turns all `breakpoint()` calls off.
# * **`python -m pdb`** with a breakpoint set by file and line. pdb looks a relative file name
#   up on `sys.path` only, and an editable install (`pip install -e .`) does not put the
#   repository there, so `b tinybgn/bgn.py:62` answers "not found from sys.path". Give pdb the
#   *absolute* path of the installed file; the next cell prints the exact command for your
#   installation (`-c` passes pdb commands: set the breakpoint, then continue to it).
# * **VS Code** - open `tinybgn/bgn.py`, click left of a line number inside `backward` to set a
#   red breakpoint, open this lesson and choose *Run > Start Debugging* (Python File); use the
#   *Variables* pane to watch `g`, `kappa`, `self.g_norm`. In the Jupyter/interactive window use
#   *Debug Cell* instead.

# %%
code = tb.BGN.backward.__code__
backward_file = code.co_filename  # the installed tinybgn/bgn.py, as an absolute path
first_line = min(n for _, _, n in code.co_lines() if n and n > code.co_firstlineno)  # its body
print(f'python -m pdb -c "b {backward_file}:{first_line}" -c c lessons/04_bgn_layer.py')

if os.environ.get("TINYBGN_DEBUG"):
    import pdb

    pdb.runcall(bgn.backward, g)  # you are now inside BGN.backward: try n, p kappa, c

# %% [markdown]
# For a notebook (and for CI, where no one types `n`), here is the same walk done by a
# ten-line tracer built on `sys.settrace`, the hook debuggers themselves use: it prints every
# line `BGN.backward` executes, with the local variables that exist at that moment.


# %%
def step_through(func, *args, show=("d", "kappa", "norm")):
    """Call func(*args); print each line run inside it, with chosen locals. Returns (result,
    list of (line number, source line))."""
    code, executed = func.__code__, []

    def tracer(frame, event, arg):
        if frame.f_code is not code:
            return None  # do not trace inside other functions (l2_norm, numpy, ...)
        if event == "line":
            src = linecache.getline(code.co_filename, frame.f_lineno).strip()
            known = {k: frame.f_locals[k] for k in show if k in frame.f_locals}
            values = "  ".join(
                f"{k}={v:.6g}" if np.isscalar(v) else f"{k}={v}" for k, v in known.items()
            )
            print(f"  line {frame.f_lineno:3d}: {src:<72} {values}")
            executed.append((frame.f_lineno, src))
        return tracer

    sys.settrace(tracer)
    try:
        result = func(*args)
    finally:
        sys.settrace(None)
    return result, executed


print(f"stepping through {tb.BGN.backward.__qualname__} in {tb.BGN.backward.__code__.co_filename}")
stepped, lines = step_through(bgn.backward, g)
assert lines, "the tracer saw no line of BGN.backward"
assert np.array_equal(stepped, out)  # tracing does not change the result

# %% [markdown]
# ## Eq. (5) inside a network, with `trace=True`
#
# Now a small network of 4 hidden blocks `Dense -> BGN -> Tanh` (width 16, so `kappa = 4`), in
# float64, on random inputs. `model.backward(grad, trace=True)` prints, from the output down,
# each layer with the equation it applies, the shapes, and the norms of the gradient it receives
# (`||in||`) and returns (`||out||`); for a BGN layer it adds `||g||` and `n_K` (eq. 8). The
# steps are also kept in `model.last_trace`.
#
# What to expect in the printout: every BGN line shows `||out|| = 4.0000e+00`, whatever
# arrives from above.

# %%
width = 16
model = tb.mlp(
    in_features=10,
    hidden=(width,) * (3 if FAST else 4),
    out_features=3,
    activation="tanh",
    bgn=True,
    seed=2,
    dtype=np.float64,
)
xb, yb = rng.standard_normal((8, 10)), rng.integers(0, 3, 8)
loss, dlogits = tb.softmax_cross_entropy(model.forward(xb), yb)
grad_x = model.backward(dlogits, trace=True)

# %% [markdown]
# The same facts, asserted from `model.last_trace`. At each BGN step:
#
# * `||out|| = kappa = sqrt(16) = 4` (eq. 5), within the rounding of a norm of 8 * 16 numbers;
# * `out = in / n_K` entry by entry (eq. 8), within 2 eps relative (one division, one product);
# * `n_K = ||in|| / kappa`.

# %%
bgn_steps = [s for s in model.last_trace if isinstance(s.layer, tb.BGN)]
kappa = np.sqrt(width)
for s in bgn_steps:
    n_K = s.layer.n_K
    assert abs(s.norm_out / kappa - 1) < s.grad_out.size * EPS
    assert np.allclose(s.grad_out, s.grad_in / n_K, rtol=4 * EPS, atol=0)
    assert abs(n_K - s.norm_in / kappa) <= s.grad_in.size * EPS * n_K
    print(
        f"BGN at index {s.index}: ||in|| = {s.norm_in:.4e} -> ||out|| = {s.norm_out:.15f}, "
        f"n_K = {n_K:.4e}"
    )
print(f"{len(bgn_steps)} BGN layers, every one returned a gradient of norm kappa = {kappa:g}")

# The whole backward pass as a picture: the norm of the gradient leaving each layer. Whatever
# happens between two BGN layers, each BGN resets the norm to kappa.
fig, ax = plt.subplots(figsize=(7, 3.5))
trace = model.last_trace
ax.plot(range(len(trace)), [s.norm_out for s in trace], "o-", color="gray")
for i, s in enumerate(trace):
    if isinstance(s.layer, tb.BGN):
        ax.plot(i, s.norm_out, "s", color="goldenrod")
ax.axhline(kappa, color="goldenrod", lw=0.8, ls="--", label="kappa (BGN output, eq. 5)")
ax.set_xticks(range(len(trace)), [type(s.layer).__name__ for s in trace], rotation=60, fontsize=7)
ax.set(ylabel="||grad_out||", title="One backward pass, output layer first")
ax.legend()
save_figure(fig, "04_bgn_trace.png")

# %% [markdown]
# ## Two more properties of eq. (5)
#
# * **Scale invariance**: `BGN_b(c g) = BGN_b(g)` for any `c > 0` - only the direction of `g`
#   survives, which is exactly why vanishing or exploding magnitudes cannot pass through.
#   Expect equality to a few eps.
# * **Zero in, zero out**: `g = 0` has no direction. The engine returns zeros rather than the
#   NaN of `0 / 0`.

# %%
layer = tb.BGN()
layer.forward(x)
base = layer.backward(g).copy()
for c in (1e-30, 1e-3, 7.0, 1e30):
    assert np.allclose(layer.backward(c * g), base, rtol=8 * EPS, atol=0), c
print("BGN_b(c g) == BGN_b(g) for c in 1e-30 ... 1e30")
zero = layer.backward(np.zeros_like(g))
assert np.array_equal(zero, np.zeros_like(g)) and layer.n_K == 0

# %% [markdown]
# ## Why BGN is never gradient-checked
#
# A finite-difference check compares `backward` with the derivative of `forward`. BGN's forward
# is the identity, whose derivative passes `dy` through unchanged; its backward deliberately
# returns `s * dy` with `s = kappa / ||dy||` instead. The check can only fail, and we can even
# predict by how much: `rel_error(s dy, dy) = |1 - s| / (1 + s)`.

# %%
dy = rng.standard_normal((N, d))
check = tb.gradcheck(tb.BGN(), x, dy)
s_scale = np.sqrt(d) / np.linalg.norm(dy)
predicted = abs(1 - s_scale) / (1 + s_scale)
print(f"gradcheck on BGN: {check.errors['x']:.6f};  predicted |1 - s| / (1 + s) = {predicted:.6f}")
assert abs(check.errors["x"] - predicted) < 1e-8  # finite differences of the identity: ~1e-10
assert check.errors["x"] > 0.1

# %% [markdown]
# Test BGN against its own definition instead (eqs. 5 and 9, as properties - lesson 9), and
# gradient-check the rest of a network with the BGN layers removed.
#
# ## What you learned
#
# * BGN is the identity forward (eq. 4) and rescales the *whole batch* gradient to norm `kappa`
#   backward (eq. 5); `n_K = ||g|| / kappa` (eq. 8) is the factor it divides by.
# * How to stop inside a layer's backward: `pdb.runcall`, `breakpoint()`, VS Code breakpoints.
# * `trace=True` prints eq. (5) at work; `model.last_trace` keeps the numbers.
#
# ## Exercises
#
# 1. **Per-sample normalisation.** `tb.BGN(scope="sample")` normalises each sample's row on its
#    own (a variant, *not* the paper's method). Show that every row of its output has norm
#    `kappa`, while with the paper's `scope="batch"` only the whole tensor does. Then show the
#    consequence: in a network, the weight gradient of a layer under the per-sample variant is
#    no longer parallel to the plain network's (cosine < 1), unlike with `scope="batch"`.
# 2. **The paper's "as big as its input".** Section 2 says `grad_W L` then has "the same norm
#    as x ... scaled by kappa". Show that for a batch of **one** sample this is exact,
#    `||grad_W L|| = kappa ||x||`, for every hidden Dense layer of a BGN network; and that for a
#    batch it becomes an inequality, `||grad_W L|| <= kappa ||X||`.
# 3. **The zero branch.** Step through `BGN.backward` with `g = 0` (use `pdb.runcall`, or the
#    `step_through` tracer above). Which lines run? Confirm that no division by zero or 0/0 happens
#    (`np.errstate(divide="raise", invalid="raise")`) and that the result is exactly zero.
#
# Worked solutions: `lessons/solutions/sol04_bgn_layer.py`.
#
# **Implement it yourself.** `lessons/exercises/ex04_bgn.py` leaves BGN's backward (eq. 5) to
# you; `tinybgn lessons check` checks it against eq. (5), the eq. (9) properties and `tb.BGN`.
