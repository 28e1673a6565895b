"""The mini-batch iterator: coverage, seeded order, drop_last."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybgn.data import batches
from tinybgn.errors import ShapeError


@given(
    n=st.integers(0, 50),
    batch_size=st.integers(1, 20),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
)
def test_one_epoch_visits_each_example_once_in_the_right_batch_sizes(
    n, batch_size, shuffle, drop_last
):
    x = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    got = list(batches(x, y, batch_size, shuffle=shuffle, seed=0, drop_last=drop_last))
    sizes = [len(yb) for _, yb in got]
    full, rest = divmod(n, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest and not drop_last else [])
    seen = np.concatenate([yb for _, yb in got]) if got else np.empty(0, int)
    assert len(set(seen.tolist())) == len(seen)  # no repeats
    if not drop_last:
        np.testing.assert_array_equal(np.sort(seen), y)
    for xb, yb in got:  # x and y stay paired
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)
    if not shuffle:
        np.testing.assert_array_equal(seen, y[: len(seen)])


def test_same_seed_same_order_and_generator_gives_new_order_each_epoch():
    x = np.arange(100)
    first = [b for b, _ in batches(x, None, 10, seed=7)]
    again = [b for b, _ in batches(x, None, 10, seed=7)]
    other = [b for b, _ in batches(x, None, 10, seed=8)]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    assert not np.array_equal(np.concatenate(first), np.concatenate(other))
    rng = np.random.default_rng(7)
    epoch1 = np.concatenate([b for b, _ in batches(x, None, 10, rng=rng)])
    epoch2 = np.concatenate([b for b, _ in batches(x, None, 10, rng=rng)])
    np.testing.assert_array_equal(epoch1, np.concatenate(first))  # same stream as seed=7
    assert not np.array_equal(epoch1, epoch2)


def test_bad_arguments_are_reported():
    x = np.zeros((4, 2))
    with pytest.raises(ShapeError, match="x has 4 examples but y has 3"):
        batches(x, np.zeros(3), 2)
    with pytest.raises(ValueError, match="positive integer"):
        batches(x, None, 0)
    with pytest.raises(ValueError, match="either seed or rng"):
        batches(x, None, 2, seed=1, rng=np.random.default_rng())
