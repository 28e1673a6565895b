"""Step-through tracing of one backward pass.

``model.backward(grad, trace=True)`` prints, layer by layer from the output down, the equation
that layer applies, the shapes, and the norms of the gradient it received and returned; the
steps are also kept in ``model.last_trace``. Pass a function instead of ``True`` to receive each
:class:`TraceStep` yourself (``tinybgn.probes`` does this to read ||delta|| at every Dense).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TraceStep:
    """One layer's part of a backward pass.

    ``grad_in`` is dL/d(output) as the layer received it, ``grad_out`` = dL/d(input) as it
    returned it. For a Dense layer ``grad_in`` is the paper's delta^(K); for a BGN layer
    ``grad_out`` is delta_BGN (eq. 5) and ``note`` holds n_K (eq. 8).
    """

    index: int
    layer: object
    equation: str
    grad_in: np.ndarray
    grad_out: np.ndarray
    note: str = ""

    @property
    def norm_in(self) -> float:
        return float(np.linalg.norm(self.grad_in))

    @property
    def norm_out(self) -> float:
        return float(np.linalg.norm(self.grad_out))

    def __str__(self) -> str:
        line = (
            f"[{self.index:3d}] {self.layer!r:<40} {self.equation:<36} "
            f"{str(self.grad_in.shape):>10} -> {str(self.grad_out.shape):<10} "
            f"{self.norm_in:>10.4e} -> {self.norm_out:<10.4e}"
        )
        return f"{line}  {self.note}" if self.note else line


#: Column titles for TraceStep lines: the gradient's shape and norm as received -> as returned.
HEADER = (
    f"{'[idx]':5} {'layer':<40} {'equation':<36} {'grad shape':>10} -> {'':<10} "
    f"{'||grad||':>10} -> {'':<10}  note"
)


def format_trace(steps: list[TraceStep]) -> str:
    """The whole trace as text, one line per layer (output layer first)."""
    return "\n".join([HEADER, *map(str, steps)])
