"""Step-through tracing of one backward pass, and a picture of it.

``model.backward(grad, trace=True)`` prints one line per layer (per node of a graph), from the
output down; the steps are also kept in ``model.last_trace``. ``trace="values"`` prints, under
each line, the gradients themselves (small arrays in full, large ones abbreviated). Pass a
function instead to receive each :class:`TraceStep` yourself (``tinybgn.probes`` does this to
read ||delta|| at every Dense). Every line fits in 100 characters and shows:

* ``K``: the paper's layer number. Dense layers are numbered 1..N from the input (N = the
  output layer); BatchNorm, BGN and the activation after Dense K belong to layer K, since they
  act on its weighted sum z^(K).
* ``|in| > |out|``: ||grad|| as the layer received it (for Dense K: ||delta^(K)||) and as it
  returned it (Frobenius norms over the whole batch tensor, the norm of eq. 5).
* ``prod``: the running product  prod_j 1/n_j  of eq. (9) over the BGN layers between the
  output and this layer (inclusive). In a chain, delta_BGN^(K) = delta^(K) * prod exactly. In a
  graph where a skip bypasses BGN layers, different backward paths cross different BGN layers;
  the line then shows the range ``lo..hi`` of the path products (see :mod:`tinybgn.graph`).
* Dense: ``gW`` = ||grad_W L|| (eq. 10) and ``gb`` = ||grad_b L|| (eq. 11); BatchNorm: the norms
  of grad_gamma, grad_beta. For a layer used twice, the gradient of *this use*.
* BGN: kappa, d (the size of g without the batch axis) and n_K = ||g|| / kappa (eq. 8). A BGN
  whose output goes straight into an activation is tagged ``eq. (5), (7)``: with f' applied
  just above it, its output is eq. (7), kappa [W^T delta^(K+1)] o f'(z^(K)) / ||...||.
* In a graph: ``sum of m`` when the node's output feeds m consumers (its gradient is the sum
  of theirs), and the nodes an ``Add`` sums.

:func:`plot_backward` draws the layer graph with ||delta|| and n_K at every node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Width of a trace line, at most.
LINE_WIDTH = 100

#: Short names of parameter gradients, for trace lines.
_GRAD_NAMES = {"W": "gW", "b": "gb", "gamma": "gγ", "beta": "gβ"}


@dataclass
class TraceStep:
    """One layer's part of a backward pass (one node's, in a graph).

    ``grad_in`` is dL/d(output) as the layer received it, ``grad_out`` = dL/d(input) as it
    returned it (a list, one per input, for a layer with several inputs such as ``Add``). For a
    Dense layer ``grad_in`` is the paper's delta^(K); for a BGN layer ``grad_out`` is
    delta_BGN (eq. 5) and ``note`` holds n_K (eq. 8). ``index`` is the position of the node in
    the model's topological order (for a Sequential: the position in ``model.layers``).

    The remaining fields are filled in by the model's backward: ``K`` (the paper's layer
    number, 1..N), ``node`` (the node's name), ``inputs`` (names of the nodes it reads),
    ``fan_out`` (how many consumers its gradient is summed from), ``scale`` ((lo, hi) of
    prod 1/n_j over the backward paths from the output, eq. 9; None where a per-sample BGN
    makes it not a number), ``grad_norms`` ({param: norm of this use's gradient}), ``kappa``,
    ``d`` and ``n_K`` (at BGN, as computed by this use), ``eq7`` (a BGN whose output feeds an
    activation) and ``grads`` (copies of this use's parameter gradients, for ``"values"``).
    """

    index: int
    layer: object
    equation: str
    grad_in: np.ndarray
    grad_out: np.ndarray | list[np.ndarray]
    note: str = ""
    K: int = 0
    node: str = ""
    inputs: tuple[str, ...] = ()
    fan_out: int = 1
    scale: tuple[float, float] | None = (1.0, 1.0)
    grad_norms: dict[str, float] = field(default_factory=dict)
    kappa: float | None = None
    d: int | None = None
    n_K: float | np.ndarray | None = None
    eq7: bool = False
    grads: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def norm_in(self) -> float:
        return _norm(self.grad_in)

    @property
    def norm_out(self) -> float:
        """||grad_out||; for a layer with several inputs, that of the first input's gradient."""
        out = self.grad_out[0] if isinstance(self.grad_out, list | tuple) else self.grad_out
        return _norm(out)

    def __str__(self) -> str:
        return format_step(self)


def _norm(a) -> float:
    return math.nan if a is None else float(np.linalg.norm(np.asarray(a, dtype=np.float64)))


def short_name(layer) -> str:
    """A layer's name in at most 14 characters: ``Dense(784,64)``, ``BatchNorm(64)``, ``BGN``."""
    name = type(layer).__name__
    if hasattr(layer, "in_features") and hasattr(layer, "out_features"):
        name = f"{name}({layer.in_features},{layer.out_features})"
    elif hasattr(layer, "features"):
        name = f"{name}({layer.features})"
    return name[:14]


def _scale_text(scale: tuple[float, float] | None) -> str:
    if scale is None:
        return "per-sample"
    lo, hi = scale
    if lo == hi or (hi > 0 and abs(hi - lo) <= 1e-12 * hi):
        return f"{lo:.2e}"
    return f"{lo:.0e}..{hi:.0e}"  # the range over the backward paths


def _details(step: TraceStep, digits: int, with_inputs: bool) -> str:
    parts = []
    if step.fan_out > 1:
        parts.append(f"sum of {step.fan_out}")
    if with_inputs and len(step.inputs) > 1:
        parts.append("= " + " + ".join(step.inputs))
    for key, value in step.grad_norms.items():
        parts.append(f"{_GRAD_NAMES.get(key, 'g' + key)} {value:.{digits}e}")
    if step.kappa is not None:
        n_K = step.n_K
        n_text = f"{n_K:.{digits}e}" if isinstance(n_K, float) else "per-sample"
        parts.append(f"kappa {step.kappa:.3g} d {step.d} n_K {n_text}")
    return " ".join(parts)


def format_step(step: TraceStep) -> str:
    """One trace line (at most LINE_WIDTH characters); see the module docstring."""
    eq = "eq. (5), (7)" if step.eq7 else _short_equation(step.equation)
    line = (
        f"{step.index:>3} K{step.K:<3}{short_name(step.layer):<15}{eq:<13}"
        f"{step.norm_in:8.2e} > {step.norm_out:8.2e} {_scale_text(step.scale):>12}"
    )
    for digits, with_inputs in ((2, True), (2, False), (1, False)):  # shorten until it fits
        details = _details(step, digits, with_inputs)
        full = f"{line}  {details}" if details else line
        if len(full) <= LINE_WIDTH:
            return full
    return full[: LINE_WIDTH - 3] + "..."


def _short_equation(equation: str) -> str:
    """``"eq. (6): ∘ f'(z)"`` -> ``"eq. (6)"``: the tag before the colon, at most 12 chars."""
    return equation.split(":")[0].strip()[:12]


#: Column titles for trace lines.
HEADER = (
    f"{'idx':>3} {'K':<4}{'layer':<15}{'equation':<13}{'|in|':>8} > {'|out|':<8} "
    f"{'prod 1/n_j':>12}  details"
)

#: What the columns mean, printed under the header.
LEGEND = (
    "|in|, |out|: gradient norms received > returned; prod 1/n_j: eq. (9); gW, gb: eqs. (10)-(11)"
)


def format_values(step: TraceStep, max_entries: int = 64) -> str:
    """The arrays of one step (received gradient, returned gradient(s), parameter gradients),
    indented under its line; arrays with more than ``max_entries`` entries are abbreviated."""
    lines = []
    outs = step.grad_out if isinstance(step.grad_out, list | tuple) else [step.grad_out]
    arrays = [("in", step.grad_in)] + [
        (f"out{'' if len(outs) == 1 else i}", g) for i, g in enumerate(outs)
    ]
    arrays += [(_GRAD_NAMES.get(k, "g" + k), g) for k, g in step.grads.items()]
    for label, a in arrays:
        if a is None:
            continue
        text = np.array2string(
            np.asarray(a),
            precision=4,
            max_line_width=LINE_WIDTH - 12,
            threshold=max_entries,
            edgeitems=2,
        )
        pad = " " * 12
        body = text.replace("\n", "\n" + pad)
        lines.append(f"    {label:<6}= {body}")
    return "\n".join(lines)


def format_trace(steps: list[TraceStep], values: bool = False) -> str:
    """The whole trace as text, one line per layer (output layer first)."""
    out = [HEADER, LEGEND]
    for step in steps:
        out.append(format_step(step))
        if values:
            out.append(format_values(step))
    return "\n".join(out)


# -- the picture -----------------------------------------------------------------------------
def plot_backward(model, steps: list[TraceStep] | None = None, ax=None):
    """Draw one backward pass: the layer graph, input on the left, output on the right.

    Every node is a box labelled with its layer and ``||delta||``, the norm of the gradient it
    received (dL/d(its output)); BGN nodes add n_K (eq. 8). The box colour is log10 ||delta||,
    so vanishing or exploding gradients show as a colour ramp. Edges run from each node to its
    consumers; skip connections (edges that jump over nodes) are drawn as arcs. ``steps``
    default to ``model.last_trace`` (run ``model.backward(grad, trace=...)`` first). Works for
    a :class:`~tinybgn.Sequential` and for any :class:`~tinybgn.Model`. Returns the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    steps = model.last_trace if steps is None else steps
    if not steps:
        from tinybgn.errors import StateError

        raise StateError("plot_backward: no trace; call model.backward(grad, trace=...) first")
    by_index = {s.index: s for s in steps}
    order = sorted(by_index)  # topological order, input side first
    position = {index: x for x, index in enumerate(order, start=1)}
    names = {s.node: s.index for s in steps}
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(order) + 1.5), 3.6))
    else:
        fig = ax.figure
    logs = [math.log10(s.norm_in) for s in steps if s.norm_in > 0]
    norm = Normalize(min(logs, default=0.0) - 1e-9, max(logs, default=0.0) + 1e-9)
    cmap = plt.get_cmap("viridis")
    # edges: input node (x = 0) and every node's inputs
    ax.text(0, 0, "input", ha="center", va="center", fontsize=7, bbox={"fc": "white"})
    for s in steps:
        x1 = position[s.index]
        for src in s.inputs or ("",):
            x0 = position.get(names.get(src, -1), 0)
            if x1 - x0 <= 1:
                ax.annotate("", (x1 - 0.35, 0), (x0 + 0.35, 0), arrowprops={"arrowstyle": "->"})
            else:  # a skip: an arc above the row
                ax.annotate(
                    "",
                    (x1 - 0.2, 0.25),
                    (x0 + 0.2, 0.25),
                    arrowprops={"arrowstyle": "->", "connectionstyle": "arc3,rad=-0.35"},
                )
    for s in steps:
        x = position[s.index]
        label = f"{short_name(s.layer)}\nK={s.K}\n‖δ‖={s.norm_in:.2e}"
        if isinstance(s.n_K, float):
            label += f"\nn_K={s.n_K:.2e}"
        colour = cmap(norm(math.log10(s.norm_in))) if s.norm_in > 0 else "lightgray"
        ax.text(
            x,
            0,
            label,
            ha="center",
            va="center",
            fontsize=6,
            rotation=90 if len(order) > 30 else 0,
            bbox={"fc": colour, "alpha": 0.6, "boxstyle": "round"},
        )
    ax.set_xlim(-0.7, len(order) + 0.7)
    ax.set_ylim(-1.2, 1.4)
    ax.axis("off")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, fraction=0.03, label="log10 ||delta|| (gradient received)")
    ax.set_title("Backward pass: ||delta|| at every node (BGN: n_K, eq. 8)", fontsize=9)
    return fig
