"""Exercise (lesson 2): the backward pass of ReLU, the ``∘ f'(z)`` of eq. (6).

``MyReLU`` is ``tinybgn.ReLU`` - its forward ``y = max(z, 0)`` caches the input as ``self.z``
and the output as ``self.y`` - with the backward pass left for you. Given ``grad = dL/dy``,
return ``dL/dz = grad ∘ f'(z)``, where ``f'(z) = 1`` for ``z > 0`` and ``0`` otherwise
(eq. 6; ReLU has no derivative at exactly 0, and 0 is the usual choice there).

Ready check: ``python lessons/exercises/ex02_relu.py`` - central finite differences on inputs
kept away from the kink at 0 (relative error below 1e-7) and agreement with ``tinybgn.ReLU``.
Worked solution: ``lessons/exercises/solutions/ex02_relu.py``.
"""

import numpy as np

import tinybgn as tb


class MyReLU(tb.ReLU):
    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = self._check_grad(grad)  # given: shape checks, a clear error before forward
        # Your code: eq. (6)'s "∘ f'(z)" for f = ReLU.
        raise NotImplementedError("write MyReLU.backward: grad ∘ f'(z)")


if __name__ == "__main__":  # the ready check: python lessons/exercises/ex02_relu.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
