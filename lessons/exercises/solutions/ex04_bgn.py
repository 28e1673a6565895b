"""Worked solution of ``lessons/exercises/ex04_bgn.py``: eq. (5) over the whole batch tensor."""

import numpy as np

import tinybgn as tb


class MyBGN(tb.BGN):
    def backward(self, g: np.ndarray) -> np.ndarray:
        g = self._check_grad(g)  # given: shape checks, a clear error before forward
        d = g.size // len(g)  # the size of one sample's gradient
        kappa = np.sqrt(d) if self.kappa is None else float(self.kappa)
        self.g_norm = float(np.linalg.norm(g))  # all samples, all features (Frobenius)
        self.n_K = self.g_norm / kappa  # eq. (8)
        if self.g_norm == 0:
            return np.zeros_like(g)  # no direction to keep
        return kappa * g / self.g_norm  # eq. (5)


if __name__ == "__main__":  # the ready check: python lessons/exercises/solutions/ex04_bgn.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
