"""Backpropagation through any graph of layers: skip connections, residual blocks, shared weights.

A graph is built by calling layers on nodes, in the style of Keras's functional API::

    x = tb.Input(784)
    h = tb.ReLU()(tb.Dense(784, 64)(x))
    r = tb.ReLU()(tb.BGN()(tb.Dense(64, 64)(h)))
    h = tb.Add()(h, r)                                  # a skip connection
    model = tb.Model(x, tb.Dense(64, 10)(h))

**The multivariate chain rule.** Forward runs the nodes in a topological order (every node after
the nodes it reads). Backward runs them in the reverse order. A node u whose output feeds
several consumers v_1, ..., v_m (fan-out: above, ``h`` feeds the Dense of the block and the
``Add``) influences the loss through each of them, so its gradient is the *sum* of what they
send back::

    dL/du = sum_i  J_{v_i}(u)^T  dL/dv_i          (J_{v_i}(u) = d v_i / d u, the Jacobian)

For a chain (m = 1 everywhere) this is the usual product of eq. (6). Since reverse topological
order visits every consumer of u before u, dL/du is complete when u's layer runs.

**Shared layers.** A layer called on two nodes is *one* layer (one W, one b) used twice:
``L`` depends on W through both uses, so by the same rule ``dL/dW = sum over uses of
(dL/dW)_use``. Layers *set* their ``grads`` in backward and cache one forward (``self.x``, ...),
so the engine does two things for a layer with several uses: after each use's forward it keeps
a shallow copy of the layer's attributes (its cache: forward binds *new* arrays to them, see
:mod:`tinybgn.layer`), restored just before that use's backward; and the first use to run
backward sets the gradients, every later one writes into a scratch copy that is then added.

**eq. (9) in a graph.** Once BGN's n_j are computed they are numbers, so the backward pass is
linear in dL/dy, and unrolling the sum above over the graph gives dL/du as a sum over the
backward paths P from the output to u. With BGN layers each path is scaled by the BGN layers on
*it*::

    delta_BGN^(K) = sum_P  ( prod_{j in P} 1/n_j )  delta_P^(K)

where delta_P^(K) is the contribution of path P in the same network without BGN (so
delta^(K) = sum_P delta_P^(K)). In a chain there is one path and this is eq. (9). When a skip
bypasses BGN layers (BGN inside the residual branch, as "before every activation" puts it), the
paths carry different products: delta_BGN^(K) is no longer a multiple of delta^(K), so BGN is no
longer a per-layer learning rate (eqs. 10-11). When every path crosses the same BGN layers
(BGN on the trunk, after each ``Add``, see :func:`tinybgn.residual_mlp`), eq. (9) holds again.
The trace shows the range of the path products at each node (:mod:`tinybgn.trace`).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np

from tinybgn.activations import Activation
from tinybgn.bgn import BGN
from tinybgn.dense import Dense
from tinybgn.errors import GraphError, NonFiniteError, ShapeError
from tinybgn.layer import Layer
from tinybgn.trace import HEADER, LEGEND, TraceStep, format_values

_COUNTS: Counter[str] = Counter()


def _new_name(kind: str) -> str:
    _COUNTS[kind] += 1
    return f"{kind}_{_COUNTS[kind]}"


class Node:
    """A value in the graph: the output of ``layer`` applied to ``inputs`` (other nodes).

    ``features`` is the width of the value (None while unknown, e.g. the input of a
    :class:`~tinybgn.Sequential`). An input node has ``layer = None``. Nodes only describe the
    graph; the arrays flow through :class:`Model`.
    """

    def __init__(self, layer, inputs: list[Node], features: int | None, name: str) -> None:
        self.layer, self.inputs, self.features, self.name = layer, list(inputs), features, name

    def __repr__(self) -> str:
        if self.layer is None:
            return f"<node {self.name}: Input({self.features})>"
        args = ", ".join(n.name for n in self.inputs)
        return f"<node {self.name} = {self.layer!r}({args}), features={self.features}>"


def Input(features: int | None = None, *, name: str | None = None) -> Node:  # noqa: N802 (Keras)
    """The input of a graph: a batch of shape (N, features)."""
    if features is not None and (not isinstance(features, int) or features < 1):
        raise ShapeError(f"Input: features must be a positive integer, got {features!r}")
    return Node(None, [], features, name or _new_name("input"))


def connect(layer, inputs: tuple | list, name: str | None = None) -> Node:
    """The node ``layer(*inputs)``: checks the arguments and the widths, naming the new node.

    This is what calling a layer on nodes does (``tb.Dense(784, 64)(x)``).
    """
    name = name or _new_name(type(layer).__name__.lower())
    for node in inputs:
        if not isinstance(node, Node):
            raise GraphError(
                f"{name} = {layer!r}(...): layers are called on graph nodes (tb.Input(...) or "
                f"another layer's output), got {type(node).__name__}; to run a layer on an "
                "array use layer.forward(x)"
            )
    many = getattr(layer, "n_inputs", 1)
    if (many == 1 and len(inputs) != 1) or (many is None and len(inputs) < 2):
        wanted = "one input node" if many == 1 else "two or more input nodes"
        raise GraphError(f"{name} = {layer!r}(...): takes {wanted}, got {len(inputs)}")
    return Node(layer, list(inputs), _output_features(layer, name, list(inputs)), name)


def _output_features(layer, name: str, inputs: list[Node]) -> int | None:
    """Width of ``layer``'s output given its inputs; a ShapeError naming the nodes if they do
    not fit. A layer with ``in_features`` (Dense) or ``features`` (BatchNorm) expects that
    width; ``out_features`` sets the output width; other layers keep their input's width."""
    widths = [n.features for n in inputs]
    call = f"{name} = {layer!r}({', '.join(n.name for n in inputs)})"
    if len(inputs) > 1:
        known = {w for w in widths if w is not None}
        if len(known) > 1:
            shapes = ", ".join(f"{n.name} has {n.features}" for n in inputs)
            raise ShapeError(f"{call}: inputs of different widths ({shapes} features)")
        return known.pop() if known else None
    expected = getattr(layer, "in_features", getattr(layer, "features", None))
    if widths[0] is not None and expected is not None and widths[0] != expected:
        raise ShapeError(
            f"{call}: {layer!r} expects {expected} features, but {inputs[0].name} gives {widths[0]}"
        )
    return getattr(layer, "out_features", widths[0])


class Add(Layer):
    """``y = x_1 + x_2 + ...`` (two or more inputs of one shape): the merge of a skip.

    Each input's Jacobian is the identity, so backward hands every input the gradient it got::

        dL/dx_i = dL/dy        for every i

    ``forward`` takes a list of arrays; ``backward`` returns a list, one gradient per input.
    """

    equation = "y = sum x_i: dL/dx_i = dL/dy"
    n_inputs = None  # two or more

    def __repr__(self) -> str:
        return "Add()"

    def forward(self, xs: list[np.ndarray], training: bool = True) -> np.ndarray:
        if not isinstance(xs, list | tuple) or len(xs) < 2:
            raise ShapeError(f"{self!r}: forward takes a list of two or more arrays")
        xs = [self._check_input(x) for x in xs]
        if len({x.shape for x in xs}) > 1:
            raise ShapeError(f"{self!r}: inputs of different shapes {[x.shape for x in xs]}")
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        self.y_shape, self.n_in = y.shape, len(xs)
        return y

    def backward(self, grad: np.ndarray) -> list[np.ndarray]:
        grad = self._check_grad(grad)
        return [grad] * self.n_in  # the same array: the engine never writes into a gradient


def _topological_order(output: Node) -> list[Node]:
    """All nodes that ``output`` depends on, each after its inputs (depth-first post-order,
    without recursion so deep networks do not hit Python's recursion limit). A node met again
    while its own inputs are still being visited closes a cycle: a GraphError names it."""
    order, state = [], {}  # state: 1 = being visited, 2 = done
    stack: list[tuple[Node, Iterator[Node]]] = [(output, iter(output.inputs))]
    state[id(output)] = 1
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            state[id(node)] = 2
            order.append(node)
        elif state.get(id(child)) == 1:
            names = [n.name for n, _ in stack]
            loop = " -> ".join(names[names.index(child.name) :] + [child.name])
            raise GraphError(f"Model: the graph has a cycle {loop} (each node reads the next)")
        elif id(child) not in state:
            if not isinstance(child, Node):
                raise GraphError(f"Model: node {node.name} has an input that is not a node")
            state[id(child)] = 1
            stack.append((child, iter(child.inputs)))
    return order


class Model:
    """A network given as a graph of layers from one input node to one output node.

    Same contract as :class:`~tinybgn.Sequential` (which is the chain case of this class):
    ``forward(x, training=)``, ``backward(grad, trace=, input_grad=)``, ``parameters()``,
    ``named_parameters()``, ``state_dict()`` / ``load_state_dict()``, ``train()`` / ``eval()``.
    ``layers`` lists each layer once, in the order of its first use; parameters and state keys
    are numbered by that order (``"3.Dense.W"``, ``"3.W"``), and all parameters (and, apart,
    all gradients) live in one contiguous buffer, ``flat_params`` / ``flat_grads``, so an
    optimiser updates the whole model in a few vectorised operations.

    See the module docstring for the chain rule at fan-out, shared layers and eq. (9).
    """

    def __init__(self, inputs: Node, outputs: Node) -> None:
        kind = type(self).__name__
        if not isinstance(inputs, Node) or inputs.layer is not None:
            raise GraphError(
                f"{kind}: inputs must be an Input node (tb.Input(...)), got {inputs!r}"
            )
        if not isinstance(outputs, Node):
            raise GraphError(f"{kind}: outputs must be a node, got {type(outputs).__name__}")
        nodes = _topological_order(outputs)
        if inputs not in nodes:
            raise GraphError(
                f"{kind}: the output {outputs.name} is not connected to the input {inputs.name}"
            )
        for node in nodes:
            if node.layer is None and node is not inputs:
                user = next(n for n in nodes if node in n.inputs)
                raise GraphError(
                    f"{kind}: node {user.name} reads input node {node.name}, which is not the "
                    f"model's input {inputs.name} (every value must be computed from it)"
                )
        self.input, self.output = inputs, outputs
        self.nodes = [n for n in nodes if n is not inputs]  # topological order, input excluded
        self.layers: list = list(dict.fromkeys(n.layer for n in self.nodes))
        self.training = True
        self.last_trace: list[TraceStep] = []
        self._compile()
        self._pack_parameters()

    def __repr__(self) -> str:
        lines = [
            f"  {n.name} = {n.layer!r}({', '.join(i.name for i in n.inputs)})" for n in self.nodes
        ]
        return f"Model({self.input.name} -> {self.output.name},\n" + "\n".join(lines) + "\n)"

    # -- the compiled graph -----------------------------------------------------------------
    def _compile(self) -> None:
        """Turn the nodes into a plan of plain tuples that forward and backward loop over.

        Slot 0 holds the input, slot k the output of ``self.nodes[k - 1]``. Each entry is
        ``(layer, src, dst, many, use, reads_input)``: ``src`` is the slot read (a tuple of
        slots for a layer with several inputs), ``many`` says which, ``use`` is None for a layer
        used once and else the index of its saved cache, ``reads_input`` whether ``src`` is 0.
        """
        slot = {id(self.input): 0} | {id(n): k for k, n in enumerate(self.nodes, start=1)}
        uses = Counter(id(n.layer) for n in self.nodes)
        self._shared = [n.layer for n in self.nodes if uses[id(n.layer)] > 1]
        self._plan, use_index = [], itertools.count()
        for node in self.nodes:
            srcs = tuple(slot[id(i)] for i in node.inputs)
            many = getattr(node.layer, "n_inputs", 1) != 1
            use = next(use_index) if uses[id(node.layer)] > 1 else None
            src = srcs if many else srcs[0]
            self._plan.append((node.layer, src, slot[id(node)], many, use, 0 in srcs))
        self._saved: list[dict | None] = [None] * next(use_index)
        self._fan_out = Counter(s for n in self.nodes for s in (slot[id(i)] for i in n.inputs))
        self._segments = self._chains()
        # The paper's K: Dense layers 1..N from the input; other nodes take the K of their
        # (latest) input, as BN, BGN and f act on the z^(K) of the Dense below them.
        self._K, dense = [0] * (len(self.nodes) + 1), itertools.count(1)
        for node in self.nodes:
            k = slot[id(node)]
            is_dense = isinstance(node.layer, Dense)
            self._K[k] = next(dense) if is_dense else max(self._K[slot[id(i)]] for i in node.inputs)
        consumers: dict[int, list] = {}
        for node in self.nodes:
            for i in node.inputs:
                consumers.setdefault(slot[id(i)], []).append(node.layer)
        self._eq7 = {  # BGN nodes whose output goes only into activations: eq. (7)
            k
            for k, users in consumers.items()
            if k
            and isinstance(self.nodes[k - 1].layer, BGN)
            and all(isinstance(u, Activation) for u in users)
        }

    def _chains(self) -> list:
        """The plan cut into maximal chains, for the untraced passes (the traced backward runs
        entry by entry). A chain is a run of single-input layers used once in which each
        output goes only to the next layer: ``(layers, reversed layers, src, dst)``. Every
        other entry stays alone, as its index. A Sequential is one chain, run by the same
        two loops as the chain-only engine had (no per-layer bookkeeping)."""
        segments: list = []
        for k, (layer, src, dst, many, use, _) in enumerate(self._plan):
            last = segments[-1] if segments else None
            if many or use is not None:
                segments.append(k)
            elif isinstance(last, list) and last[3] == src and self._fan_out[src] == 1:
                last[0].append(layer)
                last[3] = dst
            else:
                segments.append([[layer], None, src, dst])
        return [s if isinstance(s, int) else (s[0], s[0][::-1], s[2], s[3]) for s in segments]

    # -- parameters -------------------------------------------------------------------------
    def _pack_parameters(self) -> None:
        entries = [(layer, key) for layer in self.layers for key in layer.params]
        dtypes = {layer.params[key].dtype for layer, key in entries}
        if len(dtypes) > 1:
            raise TypeError(
                f"{type(self).__name__}: all parameters must share one dtype, got {dtypes}"
            )
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        total = sum(layer.params[key].size for layer, key in entries)
        self.flat_params = np.empty(total, dtype=self.dtype)
        self.flat_grads = np.zeros(total, dtype=self.dtype)
        start = 0
        for layer, key in entries:
            shape, stop = layer.params[key].shape, start + layer.params[key].size
            view = self.flat_params[start:stop].reshape(shape)
            view[...] = layer.params[key]
            layer.params[key] = view
            layer.grads[key] = self.flat_grads[start:stop].reshape(shape)
            start = stop
        # where the later uses of a shared layer write their gradients before they are added
        self._scratch = {
            id(layer): {k: np.zeros_like(g) for k, g in layer.grads.items()}
            for layer in self._shared
        }

    def parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every ``(param, grad)`` pair, input side first. Give this to an optimiser."""
        return [(layer.params[k], layer.grads[k]) for layer in self.layers for k in layer.params]

    def named_parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(name, param, grad)`` with names like ``"0.Dense.W"`` (index in ``layers``)."""
        return [
            (f"{i}.{type(layer).__name__}.{k}", layer.params[k], layer.grads[k])
            for i, layer in enumerate(self.layers)
            for k in layer.params
        ]

    def num_parameters(self) -> int:
        return int(self.flat_params.size)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all params and buffers, keyed ``"<index>.<name>"``; see ``load_state_dict``."""
        state = {}
        for i, layer in enumerate(self.layers):
            for k, v in {**layer.params, **layer.buffers}.items():
                state[f"{i}.{k}"] = v.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays saved by ``state_dict`` back into place (shapes must match)."""
        kind = type(self).__name__
        expected = self.state_dict().keys()
        if set(state) != set(expected):
            missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
            raise ShapeError(f"{kind}.load_state_dict: missing {missing}, unexpected {extra}")
        for i, layer in enumerate(self.layers):
            for store in (layer.params, layer.buffers):
                for k, v in store.items():
                    new = np.asarray(state[f"{i}.{k}"])
                    if new.shape != v.shape:
                        raise ShapeError(
                            f"{kind}.load_state_dict: {i}.{k} ({layer!r}) has shape "
                            f"{v.shape}, the state has {new.shape}"
                        )
                    v[...] = new

    # -- modes ------------------------------------------------------------------------------
    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    # -- passes -----------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool | None = None) -> np.ndarray:
        """Run every node in topological order. ``training`` defaults to the model's mode."""
        training = self.training if training is None else training
        values = self._check_batch(x)
        for segment in self._segments:
            if segment.__class__ is int:  # one node: several inputs, or a shared layer
                layer, src, dst, many, use, _ = self._plan[segment]
                values[dst] = layer.forward(
                    [values[s] for s in src] if many else values[src], training
                )
                if use is not None:  # a shared layer: keep this use's cache for its backward
                    self._saved[use] = dict(layer.__dict__)
            else:  # a chain of layers used once: each output goes only to the next
                layers, _, src, dst = segment
                v = values[src]
                for layer in layers:
                    v = layer.forward(v, training)
                values[dst] = v
        return values[-1]

    __call__ = forward

    def layer_outputs(
        self, x: np.ndarray, training: bool = True
    ) -> Iterator[tuple[int, object, np.ndarray]]:
        """Yield ``(index in layers, layer, output)`` node by node in topological order: the
        forward pass one step at a time (to find where NaN/Inf first appear, for example)."""
        values = self._check_batch(x)
        index = {id(layer): i for i, layer in enumerate(self.layers)}
        for layer, src, dst, many, use, _ in self._plan:
            arg = [values[s] for s in src] if many else values[src]
            values[dst] = layer.forward(arg, training)
            if use is not None:
                self._saved[use] = dict(layer.__dict__)
            yield index[id(layer)], layer, values[dst]

    def _check_batch(self, x: np.ndarray) -> list:
        kind = type(self).__name__
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ShapeError(
                f"{kind}.forward: expected a non-empty (N, features) batch, got {x.shape}"
            )
        features = self.input.features
        if features is not None and x.shape[1] != features:
            raise ShapeError(
                f"{kind}.forward: input node {self.input.name} expects {features} features per "
                f"sample, got shape {x.shape}"
            )
        if not np.isfinite(x).all():
            raise NonFiniteError(f"{kind}.forward: the input batch contains NaN or Inf")
        values = [None] * (len(self.nodes) + 1)
        values[0] = x
        return values

    def backward(
        self,
        grad: np.ndarray,
        trace: bool | str | Callable[[TraceStep], None] = False,
        *,
        input_grad: bool = True,
    ) -> np.ndarray | None:
        """Backpropagate dL/d(output) through the graph; returns dL/d(input).

        Nodes run in reverse topological order; a node's gradient is the sum of its consumers'
        (see the module docstring). ``trace=True`` prints one line per node (see
        :mod:`tinybgn.trace`) and keeps the steps in ``self.last_trace``; ``trace="values"``
        also prints the arrays; a callable receives each :class:`TraceStep` instead.

        ``input_grad=False`` is for training loops, which only need the parameter gradients:
        the layers that read the input may then skip dL/d(input) (a Dense input layer skips
        eq. 3, its largest product), and None is returned. Ignored when tracing.
        """
        grad = np.asarray(grad, dtype=self.dtype)
        kind = type(self).__name__
        if not np.isfinite(grad).all():
            raise NonFiniteError(f"{kind}.backward: the incoming gradient contains NaN or Inf")
        if trace not in (False, True, "values") and not callable(trace):
            raise ValueError(f"{kind}.backward: trace must be True, 'values' or a callable")
        if trace is not False:
            input_grad = True
            steps: list[TraceStep] = []
            if trace in (True, "values"):
                print(HEADER)
                print(LEGEND)
            scale = [None] * (len(self.nodes) + 1)  # (lo, hi) of prod 1/n_j at each slot
            scale[-1] = (1.0, 1.0)
        grads = [None] * (len(self.nodes) + 1)
        grads[-1] = grad
        done: set[int] = set()  # shared layers whose gradients are already set in this pass
        if trace is False:
            for segment in reversed(self._segments):
                if segment.__class__ is int:
                    self._backward_node(segment, grads, input_grad, done)
                else:
                    self._backward_chain(segment, grads, input_grad)
            return grads[0] if input_grad else None
        for k in range(len(self._plan) - 1, -1, -1):
            layer, _, dst, _, use, _ = self._plan[k]
            g = grads[dst]
            g_in = self._backward_node(k, grads, input_grad, done)
            step = self._trace_step(k, layer, g, g_in, scale, use)
            steps.append(step)
            if trace in (True, "values"):
                print(step)
                if trace == "values":
                    print(format_values(step))
            else:
                trace(step)
        self.last_trace = steps
        return grads[0]

    @staticmethod
    def _send(grads: list, src: int, g_in, input_grad: bool) -> None:
        """Add ``g_in`` to the gradient of slot ``src``: the sum of the chain rule at fan-out
        (a new array: a gradient may be shared, e.g. by the inputs of an Add)."""
        if src or input_grad:
            grads[src] = g_in if grads[src] is None else grads[src] + g_in

    def _backward_chain(self, segment, grads: list, input_grad: bool) -> None:
        """Backward through a chain of layers used once (eq. 6 layer after layer)."""
        _, reversed_layers, src, dst = segment
        g = grads[dst]
        grads[dst] = None
        if src == 0 and not input_grad:  # the chain's first layer reads the input
            first = reversed_layers[-1]
            first.needs_input_grad = False
            try:
                for layer in reversed_layers:
                    g = layer.backward(g)
            finally:
                first.needs_input_grad = True
        else:
            for layer in reversed_layers:
                g = layer.backward(g)
        self._send(grads, src, g, input_grad)

    def _backward_node(self, k: int, grads: list, input_grad: bool, done: set[int]):
        """Backward of plan entry k; sends its input gradient(s) on and returns them."""
        layer, src, dst, many, use, reads_input = self._plan[k]
        g = grads[dst]
        grads[dst] = None
        if use is None and not reads_input:
            g_in = layer.backward(g)
        else:
            g_in = self._backward_special(layer, g, use, reads_input and not input_grad, done)
        if many:
            for s, gs in zip(src, g_in, strict=True):
                self._send(grads, s, gs, input_grad)
        else:
            self._send(grads, src, g_in, input_grad)
        return g_in

    def _backward_special(self, layer, g, use, skip_input_grad: bool, done: set[int]):
        """Backward of a shared layer's use (restore its cache; sum its parameter gradients)
        and/or of a layer that reads the input when dL/d(input) is not needed."""
        if use is not None:
            layer.__dict__.update(self._saved[use])
        later_use = use is not None and id(layer) in done
        real = layer.grads
        if later_use:
            layer.grads = self._scratch[id(layer)]
        if skip_input_grad:
            layer.needs_input_grad = False
        try:
            g_in = layer.backward(g)
            if use is not None:  # this use's own gradients, for the trace
                self._last_use_grads = {k: v.copy() for k, v in layer.grads.items()}
            if later_use:
                for key, part in layer.grads.items():
                    real[key] += part  # dL/dW = sum over uses
        finally:
            layer.grads = real
            layer.needs_input_grad = True
        if use is not None:
            done.add(id(layer))
        return g_in

    def _trace_step(self, k: int, layer, g, g_in, scale: list, use) -> TraceStep:
        """The TraceStep of plan entry k, and the eq. (9) products handed to its inputs."""
        _, src, dst, many, _, _ = self._plan[k]
        node = self.nodes[dst - 1]
        own = scale[dst]
        kappa = d = n_K = None
        if isinstance(layer, BGN):
            d = g.size // len(g)
            kappa = math.sqrt(d) if layer.kappa is None else float(layer.kappa)
            n_K = layer.n_K
            if not isinstance(n_K, float):
                own = False  # per-sample n_K: no single number
            elif own is not False:
                factor = 1.0 / n_K if n_K > 0 else math.inf
                own = (own[0] * factor, own[1] * factor)
        for s in src if many else (src,):  # each input takes the min and max over consumers
            old = scale[s]
            if own is False or old is False:
                scale[s] = False
            else:
                scale[s] = own if old is None else (min(old[0], own[0]), max(old[1], own[1]))
        param_grads = (
            self._last_use_grads if use is not None else {k2: v for k2, v in layer.grads.items()}
        )
        return TraceStep(
            index=dst - 1,
            layer=layer,
            equation=layer.equation,
            grad_in=g,
            grad_out=g_in,
            note=layer.trace_note(),
            K=self._K[dst],
            node=node.name,
            inputs=tuple(i.name for i in node.inputs),
            fan_out=self._fan_out[dst],
            scale=own or None,
            grad_norms={key: _norm64(v) for key, v in param_grads.items()},
            kappa=kappa,
            d=d,
            n_K=n_K if n_K is None or isinstance(n_K, float) else np.array(n_K, copy=True),
            eq7=dst in self._eq7,
            grads={key: np.array(v, copy=True) for key, v in param_grads.items()},
        )


def _norm64(a: np.ndarray) -> float:
    return float(np.linalg.norm(a.astype(np.float64)))
