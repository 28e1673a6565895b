"""hypothesis strategies shared by the engine tests: small float64 batches with bounded values."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

FLOATS = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)
#: Entries with 1e-3 <= |v| <= 2: away from ReLU's kink at 0.
NONZERO_FLOATS = st.one_of(st.floats(-2.0, -1e-3), st.floats(1e-3, 2.0))


def batches(
    min_rows: int = 1, max_rows: int = 6, min_cols: int = 1, max_cols: int = 6, elements=FLOATS
):
    """A float64 array of shape (N, D) with entries in [-2, 2] (or from ``elements``)."""
    shapes = st.tuples(st.integers(min_rows, max_rows), st.integers(min_cols, max_cols))
    return shapes.flatmap(lambda shape: arrays(np.float64, shape, elements=elements))


def like(array_strategy_shape: tuple[int, ...]):
    """A float64 array of the given shape with entries in [-2, 2] (e.g. an upstream gradient)."""
    return arrays(np.float64, array_strategy_shape, elements=FLOATS)
