"""Worked solution of ``lessons/exercises/ex06_adam.py``: Algorithm 1, line by line."""

import numpy as np

import tinybgn as tb


class MyAdam(tb.Adam):
    def step(self) -> None:
        self.t += 1  # before the bias correction: t = 1 at the first step
        for (theta, g), m, v in zip(self.pairs, self.m, self.v, strict=True):
            m[...] = self.beta1 * m + (1 - self.beta1) * g
            v[...] = self.beta2 * v + (1 - self.beta2) * g * g
            m_hat = m / (1 - self.beta1**self.t)
            v_hat = v / (1 - self.beta2**self.t)
            theta -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


if __name__ == "__main__":  # the ready check: python lessons/exercises/solutions/ex06_adam.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
