"""Exercise (lesson 4): the backward pass of BGN, eq. (5).

``MyBGN`` is ``tinybgn.BGN`` - its forward is the identity (eq. 4) - with the backward pass
left for you::

    (5) BGN_b(g) = kappa g / ||g||,    ||g|| over the WHOLE batch tensor (all samples, all
                                       features), kappa = sqrt(d), d = g's size per sample

Return zeros for ``g = 0`` (no direction to keep), not the NaN of 0/0. (Also setting
``self.g_norm = ||g||`` and ``self.n_K = ||g|| / kappa``, eq. 8, lets traces show them.)

Ready check: ``python lessons/exercises/ex04_bgn.py``. BGN's backward is deliberately *not* the
derivative of its forward, so it is never checked by finite differences: the check measures
eq. (5) - the norm is kappa, the direction is g's - then the eq. (9) properties, then agreement
with ``tinybgn.BGN``. Worked solution: ``lessons/exercises/solutions/ex04_bgn.py``.
"""

import numpy as np

import tinybgn as tb


class MyBGN(tb.BGN):
    def backward(self, g: np.ndarray) -> np.ndarray:
        g = self._check_grad(g)  # given: shape checks, a clear error before forward
        # Your code: eq. (5).
        raise NotImplementedError("write MyBGN.backward: eq. (5)")


if __name__ == "__main__":  # the ready check: python lessons/exercises/ex04_bgn.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
