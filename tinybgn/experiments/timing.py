"""Measured step times, for projecting how long a sweep or preset takes (``--dry-run``).

Measured on this project's reference machine (2-core VM, one core per run, OpenBLAS with one
thread, load average 0.3-0.6; 2026-12-02, tinybgn commit 31868ea) with ``train()`` on 3200
carved MNIST digits: median of one epoch of 100 Adam steps of batch 32 after a warm-up epoch, ReLU,
64 units per layer; evaluation time per test example on 2000 examples. Sigmoid and tanh cost a
few per cent more (their exp); SGD a little less than Adam. Other machines scale all of it.

    depth  plain   BGN     BN      BN+BGN   (ms per training step)
    30     1.20    1.69    2.92    3.42
    60     2.74    3.13    5.50    5.85
    90     3.93    5.74    8.25    7.96
    120    5.08    5.71    11.63   12.16

Step time grows linearly with depth (about 0.043 ms per plain layer, 0.053 with BGN, 0.094 with
BN, 0.10 with both); depths in between are interpolated, others extrapolated per layer.
"""

from __future__ import annotations

import numpy as np

#: (batchnorm, bgn) -> {depth: (ms per training step of batch 32, us per evaluated example)}.
MEASURED: dict[tuple[bool, bool], dict[int, tuple[float, float]]] = {
    (False, False): {30: (1.20, 7.3), 60: (2.74, 11.9), 90: (3.93, 15.2), 120: (5.08, 19.3)},
    (False, True): {30: (1.69, 7.2), 60: (3.13, 15.0), 90: (5.74, 18.8), 120: (5.71, 23.1)},
    (True, False): {30: (2.92, 13.6), 60: (5.50, 20.2), 90: (8.25, 35.9), 120: (11.63, 38.7)},
    (True, True): {30: (3.42, 10.5), 60: (5.85, 17.3), 90: (7.96, 24.1), 120: (12.16, 32.3)},
}


def step_seconds(spec) -> tuple[float, float]:
    """``(seconds per training step, seconds per evaluated example)`` for a spec's network,
    scaled from batch 32 and width 64 by ``batch/32 * (width/64)**2`` (the products' size)."""
    table = MEASURED[(spec.batchnorm, spec.bgn)]
    depths = sorted(table)
    steps = [table[d][0] for d in depths]
    evals = [table[d][1] for d in depths]
    if depths[0] <= spec.depth <= depths[-1]:
        step_ms = float(np.interp(spec.depth, depths, steps))
        eval_us = float(np.interp(spec.depth, depths, evals))
    else:  # per layer, from the nearest measured depth
        nearest = depths[0] if spec.depth < depths[0] else depths[-1]
        step_ms = table[nearest][0] * spec.depth / nearest
        eval_us = table[nearest][1] * spec.depth / nearest
    size = (spec.width / 64) ** 2
    return step_ms * 1e-3 * spec.batch_size / 32 * size, eval_us * 1e-6 * size


__all__ = ["MEASURED", "step_seconds"]
