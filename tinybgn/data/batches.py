"""Mini-batches for stochastic gradient descent.

One epoch visits every example once, in ``ceil(N / batch_size)`` batches (the last one
smaller), or ``floor(N / batch_size)`` full batches with ``drop_last=True`` - useful when a
layer such as BatchNorm needs at least two examples per batch. With ``shuffle=True`` the order is
a fresh random permutation each epoch; pass a ``seed`` (or a ``np.random.Generator``) and the
order is reproducible: the same seed gives the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tinybgn.errors import ShapeError


def batches(
    x: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """An iterator of ``(x_batch, y_batch)`` pairs covering ``x`` and ``y`` once.

    ``x`` has shape ``(N, ...)`` and ``y`` shape ``(N, ...)`` (or is None, then ``y_batch`` is
    None). Shuffling draws from ``rng`` when given - so successive epochs with one generator get
    different orders - else from ``np.random.default_rng(seed)``; ``seed=None`` and no ``rng``
    means a different order every call. Batches are copies when shuffled, views otherwise.
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if seed is not None and rng is not None:
        raise ValueError("pass either seed or rng, not both")
    n = len(x)
    if y is not None and len(y) != n:
        raise ShapeError(f"x has {n} examples but y has {len(y)}; they must match")
    order = None
    if shuffle:
        order = (rng if rng is not None else np.random.default_rng(seed)).permutation(n)
    stop = n - n % batch_size if drop_last else n
    return _iterate(x, y, batch_size, order, stop)


def _iterate(x, y, batch_size, order, stop):
    """The generator behind :func:`batches` (separate so argument errors raise at the call)."""
    for start in range(0, stop, batch_size):
        end = start + batch_size
        index = slice(start, end) if order is None else order[start:end]
        yield x[index], (None if y is None else y[index])
