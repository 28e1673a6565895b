"""Properties of tinybgn.experiments.stats: sd, bootstrap interval, sign-flip test, verdict."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinybgn.experiments import stats

accuracy = st.floats(0.0, 1.0, allow_nan=False)
samples = st.lists(accuracy, min_size=2, max_size=12)


def test_sample_sd_divides_by_n_minus_1():
    assert stats.sample_sd([1.0, 2.0, 3.0]) == pytest.approx(1.0)  # sqrt(2 / 2)
    assert stats.sample_sd([0.5]) is None


@settings(max_examples=50, deadline=None)
@given(samples)
def test_bootstrap_interval_contains_the_mean_and_lies_within_the_data(x):
    low, high = stats.bootstrap_ci(x, n_boot=2000)
    m = np.mean(x)
    assert min(x) <= low <= m + 1e-12
    assert m - 1e-12 <= high <= max(x)


@settings(max_examples=30, deadline=None)
@given(samples, st.randoms(use_true_random=False))
def test_results_do_not_depend_on_the_order_of_the_runs(x, random):
    shuffled = list(x)
    random.shuffle(shuffled)
    assert stats.bootstrap_ci(x, n_boot=500) == stats.bootstrap_ci(shuffled, n_boot=500)
    d = [a - 0.5 for a in x]
    d_shuffled = [a - 0.5 for a in shuffled]
    assert stats.sign_flip_pvalue(d) == stats.sign_flip_pvalue(d_shuffled)


def test_bootstrap_of_a_constant_is_that_constant():
    assert stats.bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)
    assert stats.bootstrap_ci([0.3]) is None


@settings(max_examples=30, deadline=None)
@given(samples)
def test_identical_samples_give_p_1_and_indistinguishable(x):
    result = stats.paired_comparison(dict(enumerate(x)), dict(enumerate(x)))
    assert result["diff"] == 0.0
    assert result["p"] == 1.0
    assert result["verdict"] == "indistinguishable"


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 10])
def test_smallest_p_is_2_over_2_to_the_n(n):
    # All differences of one sign: only the observed signs and their mirror reach |mean|.
    d = np.linspace(0.01, 0.05, n)
    assert stats.sign_flip_pvalue(d) == pytest.approx(2 / 2**n)
    assert stats.smallest_exact_p(n) == pytest.approx(min(1.0, 2 / 2**n))


@pytest.mark.parametrize("ties", [0, 1, 2, 4])
def test_each_tied_seed_doubles_the_smallest_p(ties):
    """A zero difference flips to itself: six pairs all in BGN's favour but ``ties`` of them
    tied give p = 2^(ties + 1) / 2^6 (one tie: 0.0625, no longer below 0.05)."""
    d = [0.0] * ties + [0.5 + 0.1 * i for i in range(6 - ties)]
    assert stats.sign_flip_pvalue(d) == pytest.approx(2 ** (ties + 1) / 2**6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2000, 2000), min_size=1, max_size=8))
def test_exact_p_matches_a_direct_enumeration_in_exact_arithmetic(k):
    # Paired differences of test accuracies are multiples of 1/n_test: here of 1/2000, as in the
    # presets. The oracle counts in exact rationals, so a tie is a tie and no tolerance is needed
    # (any two distinct sums differ by at least 1/2000, far beyond the p-value's tolerance).
    d = [x / 2000 for x in k]
    exact = [Fraction(x, 2000) for x in k]
    observed = abs(sum(exact))
    count = sum(
        abs(sum(s * x for s, x in zip(signs, exact, strict=True))) >= observed
        for signs in itertools.product((1, -1), repeat=len(exact))
    )
    p = stats.sign_flip_pvalue(d)
    assert p == count / 2 ** len(d)
    assert stats.smallest_exact_p(len(d)) - 1e-12 <= p <= 1.0


def test_sums_equal_but_for_rounding_are_ties_and_real_differences_are_not():
    # In floats 0.1 + 0.2 - 0.3 = 5.6e-17, not 0: sign vectors whose |sum| equals the observed
    # one in exact arithmetic miss it by rounding. They are ties, as for the integers 1, 2, -3, 3
    # (12 of the 16 sign vectors reach |sum|; a strict float comparison would count 10).
    assert 0.1 + 0.2 - 0.3 != 0
    assert stats.sign_flip_pvalue([1.0, 2.0, -3.0, 3.0]) == 12 / 16
    assert stats.sign_flip_pvalue([0.1, 0.2, -0.3, 0.3]) == 12 / 16
    # The flipped sum 1 - 1e-9 lies 2e-9 below 1 + 1e-9: twice the tolerance (1e-9 relative),
    # a real difference, not a tie.
    assert stats.sign_flip_pvalue([1.0, 1e-9]) == 0.5
    assert stats.sign_flip_pvalue([1.0, 0.0]) == 1.0  # flipping a 0 changes nothing: a tie


def test_monte_carlo_p_is_seeded_and_never_zero():
    d = np.full(30, 0.1)  # far beyond EXACT_MAX_N: Monte Carlo
    p1 = stats.sign_flip_pvalue(d, n_mc=2000, seed=1)
    assert p1 == stats.sign_flip_pvalue(d, n_mc=2000, seed=1)
    assert p1 == pytest.approx(1 / 2001)  # no random pattern reaches the all-positive mean


def test_monte_carlo_agrees_with_exact_for_a_null_sample():
    d = np.random.default_rng(3).normal(size=18)
    p_mc = stats.sign_flip_pvalue(d, n_mc=20000, seed=0)
    # exact p over 2^18 patterns by the same formula, for comparison
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=18)), dtype=np.float32)
    exact = np.mean(np.abs(signs @ d.astype(np.float32)) >= abs(d.sum()) - 1e-5)
    assert abs(p_mc - exact) < 0.02


def test_verdict_rule():
    assert stats.verdict(0.1, [0.05, 0.2], 0.01) == "better"
    assert stats.verdict(-0.1, [-0.2, -0.05], 0.01) == "worse"
    assert stats.verdict(0.1, [-0.01, 0.2], 0.01) == "indistinguishable"  # interval has 0
    assert stats.verdict(0.1, [0.05, 0.2], 0.06) == "indistinguishable"  # p too large
    assert stats.verdict(None, None, None) == "indistinguishable"


def test_paired_comparison_pairs_by_key_and_skips_missing_values():
    bgn = {1: 0.9, 2: 0.8, 3: None, 4: 0.85, 5: 0.9, 6: 0.88, 7: 0.91}
    plain = {1: 0.1, 2: 0.11, 3: 0.1, 4: 0.1, 5: 0.12, 6: 0.1, 7: 0.1, 8: 0.1}
    r = stats.paired_comparison(bgn, plain)
    assert r["n"] == 6 and r["unpaired"] == 3  # run 3 diverged with BGN; 8 has no partner
    assert r["p"] == pytest.approx(2 / 64)
    assert r["verdict"] == "better"
    flipped = stats.paired_comparison(plain, bgn)
    assert flipped["verdict"] == "worse" and flipped["diff"] == pytest.approx(-r["diff"])


def test_three_runs_can_never_be_called_better():
    r = stats.paired_comparison({0: 0.9, 1: 0.9, 2: 0.9}, {0: 0.1, 1: 0.1, 2: 0.1})
    assert r["p"] == 0.25 and r["verdict"] == "indistinguishable"


def test_describe_and_bad_input():
    d = stats.describe([0.1, 0.2, 0.3])
    assert d["n"] == 3 and d["mean"] == pytest.approx(0.2) and d["sd"] == pytest.approx(0.1)
    assert d["ci95"][0] <= 0.2 <= d["ci95"][1]
    with pytest.raises(ValueError, match="finite"):
        stats.describe([0.1, float("nan")])
