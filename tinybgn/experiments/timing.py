"""Measured step times, for projecting how long a sweep or preset takes (``--dry-run``).

Measured on this project's reference machine (2-core VM, one core per run, OpenBLAS with one
thread, load average 0.1-0.2; 2026-12-02, tinybgn at the merge of main a81e669 - the graph
engine - into exp) with ``train()`` on 3200 carved MNIST digits: one epoch of 100 Adam steps of
batch 32 after a warm-up epoch, ReLU, 64 units per layer; evaluation time per test example on
2000 examples. Sigmoid and tanh cost a few per cent more (their exp); SGD a little less than
Adam. Other machines scale all of it. (Before the graph engine, at 31868ea: 5.4 ms mean over the
16 networks instead of 5.8.)

    depth  plain   BGN     BN      BN+BGN   (ms per training step)
    30     1.67    1.93    3.41    3.75
    60     3.37    4.00    8.03    6.34
    90     4.41    4.70    8.04    7.71
    120    5.41    6.25    12.14   12.21

Step time grows about linearly with depth (about 0.05 ms per plain layer, 0.055 with BGN, 0.1
with BN or both; single measurements, so some noise: 60 layers with BN reads as slow as 90);
depths in between are interpolated, others extrapolated per layer.
"""

from __future__ import annotations

import numpy as np

#: (batchnorm, bgn) -> {depth: (ms per training step of batch 32, us per evaluated example)}.
MEASURED: dict[tuple[bool, bool], dict[int, tuple[float, float]]] = {
    (False, False): {30: (1.67, 15.6), 60: (3.37, 16.9), 90: (4.41, 19.1), 120: (5.41, 21.2)},
    (False, True): {30: (1.93, 8.6), 60: (4.00, 15.1), 90: (4.70, 16.1), 120: (6.25, 23.3)},
    (True, False): {30: (3.41, 17.7), 60: (8.03, 26.5), 90: (8.04, 31.4), 120: (12.14, 41.9)},
    (True, True): {30: (3.75, 12.5), 60: (6.34, 21.2), 90: (7.71, 26.0), 120: (12.21, 38.3)},
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
