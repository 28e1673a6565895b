"""Exercise (lesson 6): one step of Adam, Kingma & Ba's Algorithm 1.

``MyAdam`` is ``tinybgn.Adam`` - its constructor keeps ``self.pairs`` (a list of
``(theta, g)`` arrays: parameter and its gradient), one zero array ``self.m[i]`` and
``self.v[i]`` per pair, ``self.t = 0`` and ``self.lr``, ``self.beta1``, ``self.beta2``,
``self.eps`` - with ``step`` left for you. For every pair::

    t = t + 1                                  (once per step, before the bias correction)
    m = beta1 m + (1 - beta1) g
    v = beta2 v + (1 - beta2) g^2
    m_hat = m / (1 - beta1^t)
    v_hat = v / (1 - beta2^t)
    theta = theta - lr m_hat / (sqrt(v_hat) + eps)

Update ``theta``, ``m`` and ``v`` in place (``theta -= ...``, ``m[...] = ...``).

Ready check: ``python lessons/exercises/ex06_adam.py`` - the first step must be
``lr g / (|g| + eps)``, and 20 steps must agree with ``tinybgn.Adam`` to 1e-10. Worked
solution: ``lessons/exercises/solutions/ex06_adam.py``.
"""

import tinybgn as tb


class MyAdam(tb.Adam):
    def step(self) -> None:
        # Your code: Algorithm 1.
        raise NotImplementedError("write MyAdam.step: Algorithm 1")


if __name__ == "__main__":  # the ready check: python lessons/exercises/ex06_adam.py
    from tinybgn.exercises import check_file

    raise SystemExit(check_file(__file__))
