"""Statistics for a handful of training runs, written to be read: sd, intervals, paired tests.

A cell of Table 1 holds a few test accuracies, one per training run (seed). From them we report

* the **mean** and the **sample standard deviation** ``sd = sqrt(sum (x_i - mean)^2 / (n - 1))``
  (``ddof=1``: dividing by n, as ``np.std`` does by default, underestimates the spread, by 18 %
  at n = 3);
* a **95 % interval for the mean**, by the *percentile bootstrap*: draw n runs with replacement
  from the n we have, take their mean, repeat ``n_boot`` times; the interval runs from the 2.5th
  to the 97.5th percentile of those means. It assumes nothing about the shape of the
  distribution, but with very few runs it is too narrow (it can never be wider than the range
  of the data), so read it together with n.

Two cells that differ only by BGN use the **same seeds** (run r starts from the same weights and
sees the same batches), so we compare them *paired*: ``d_i = x_i(BGN) - x_i(baseline)`` for each
seed i. We report the mean difference, its bootstrap interval (as above, resampling the d_i), and
a **sign-flip permutation p-value**: if BGN made no difference, each d_i would be as likely to be
positive as negative, so flipping the signs of any subset of the d_i gives an equally likely
data set. The p-value is the share of the ``2^n`` sign patterns whose ``|mean|`` is at least the
observed one (two-sided). All ``2^n`` patterns are enumerated when ``n <= EXACT_MAX_N``;
otherwise ``n_mc`` random patterns are drawn (seeded) and ``p = (1 + hits) / (1 + n_mc)``, which
never reports 0. The observed pattern and its mirror image always count, so the smallest
possible exact p-value is ``2 / 2^n``: 0.25 with 3 runs, so **3 paired runs can never show a
difference at the 5 % level**; 6 runs are the minimum (2/64 = 0.031). A seed whose two runs
end at the same accuracy (``d_i = 0``: both predict one class, say) flips to itself, so each
such tie doubles that floor: 6 pairs with one tie give at best 4/64 = 0.0625.

**Verdict** of a pair (:func:`verdict`): ``better`` if p < 0.05 *and* the whole 95 % interval of
the difference lies above 0; ``worse`` if p < 0.05 and the interval lies below 0; otherwise
``indistinguishable`` (which means "not shown to differ", not "shown to be equal").

Every random draw uses ``numpy.random.default_rng(seed)`` on the *sorted* data, so the results
do not depend on the order in which the runs were stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

#: Enumerate all 2^n sign patterns up to this many pairs (2^16 = 65536 patterns).
EXACT_MAX_N = 16
#: Significance level of the verdicts.
ALPHA = 0.05
#: Bootstrap resamples and Monte-Carlo sign patterns.
N_BOOT = 10_000
N_MC = 20_000

METHOD_TEXT = (
    "**Statistics.** Each cell gives the mean test accuracy of its runs and the sample standard "
    "deviation (divided by n - 1). The 95 % interval of a mean is a percentile bootstrap: we "
    f"resample the runs with replacement {N_BOOT} times and take the 2.5th and 97.5th percentiles "
    "of the resampled means (seeded, so the report is reproducible). A BGN cell and its baseline "
    "(the same cell without BGN) use the same seeds, so we compare them run by run: for every "
    "seed the difference d = accuracy with BGN - accuracy without. If BGN changed nothing, each "
    "d would be equally likely to be positive or negative; the p-value is the share of all 2^n "
    "ways of flipping the signs of the d's that give a mean difference at least as far from 0 "
    f"as the observed one (all 2^n enumerated up to n = {EXACT_MAX_N}, else {N_MC} random "
    "flips). Since "
    "the observed signs and their mirror image always count, p can never be below 2/2^n: with "
    "3 runs per cell p >= 0.25, and at least 6 paired runs are needed to reach p < 0.05. A seed "
    "whose two runs reach the same accuracy (d = 0, as when both predict one class) flips to "
    "itself, so each such tie doubles that floor (6 pairs with one tie: p >= 0.0625). A pair "
    f"is **better** (worse) when p < {ALPHA} and the whole 95 % interval of the mean difference "
    "lies above (below) 0, and **indistinguishable** otherwise - meaning the runs do not show a "
    "difference, not that there is none. Diverged runs are left out of a cell's mean and out of "
    "its pairs (their number is reported)."
)


def _values(x: Sequence[float]) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError("stats: values must be finite numbers (leave diverged runs out)")
    return a


def mean(x: Sequence[float]) -> float | None:
    """The mean, or None for no values."""
    a = _values(x)
    return float(a.mean()) if a.size else None


def sample_sd(x: Sequence[float]) -> float | None:
    """Sample standard deviation ``sqrt(sum (x - mean)^2 / (n - 1))``; None if n < 2."""
    a = _values(x)
    return float(a.std(ddof=1)) if a.size >= 2 else None


def bootstrap_ci(
    x: Sequence[float], *, level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile-bootstrap interval ``[low, high]`` for the mean of ``x``; None if n < 2.

    Resamples ``n`` values with replacement ``n_boot`` times (``default_rng(seed)``, on the
    sorted values) and returns the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the
    resampled means. The interval lies within ``[min(x), max(x)]``.
    """
    a = np.sort(_values(x))
    if a.size < 2:
        return None
    rng = np.random.default_rng(seed)
    index = rng.integers(0, a.size, size=(n_boot, a.size))
    means = a[index].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    # Rounding in the resampled means may put a quantile a hair outside [min, max].
    return float(max(low, a[0])), float(min(high, a[-1]))


def sign_flip_pvalue(d: Sequence[float], *, n_mc: int = N_MC, seed: int = 0) -> float | None:
    """Two-sided sign-flip permutation p-value of the paired differences ``d``; None if empty.

    ``p = #{signs s : |mean(s * d)| >= |mean(d)|} / #signs`` over all ``2^n`` sign vectors
    when ``n <= EXACT_MAX_N``; otherwise over ``n_mc`` random sign vectors, as
    ``(1 + hits) / (1 + n_mc)``. Exact p-values are multiples of ``2 / 2^n``.
    """
    a = np.sort(_values(d))
    n = a.size
    if n == 0:
        return None
    observed = abs(a.sum())
    # Sums that equal the observed one in exact arithmetic may differ in the last bits.
    tolerance = 1e-9 * max(1.0, float(np.abs(a).sum()))
    if n <= EXACT_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice((1.0, -1.0), size=(n_mc, n))
    hits = int(np.sum(np.abs(signs @ a) >= observed - tolerance))
    if n <= EXACT_MAX_N:
        return hits / len(signs)
    return (1 + hits) / (1 + n_mc)


def smallest_exact_p(n: int) -> float:
    """The smallest p-value an exact sign-flip test of n pairs can give: ``2 / 2^n``."""
    return 1.0 if n < 1 else min(1.0, 2.0 / 2.0**n)


def verdict(diff: float | None, ci95: tuple[float, float] | None, p: float | None) -> str:
    """``better`` / ``worse`` / ``indistinguishable`` (rule in the module docstring)."""
    if diff is None or ci95 is None or p is None or not p < ALPHA:
        return "indistinguishable"
    if ci95[0] > 0:
        return "better"
    if ci95[1] < 0:
        return "worse"
    return "indistinguishable"


def describe(x: Sequence[float], *, seed: int = 0) -> dict:
    """``n``, ``mean``, ``sd`` (ddof=1) and ``ci95`` of one cell's values (any order)."""
    a = np.sort(_values(x))  # sorted: the last bits of a sum depend on the order
    return {
        "n": int(a.size),
        "mean": mean(a),
        "sd": sample_sd(a),
        "ci95": _as_list(bootstrap_ci(a, seed=seed)),
    }


def paired_comparison(treated: dict, baseline: dict, *, seed: int = 0) -> dict:
    """Compare two cells run by run. ``treated``/``baseline`` map a pairing key (the seed) to
    a value, or None for a run without one (diverged); only keys with a value on both sides
    count.

    Returns ``n`` (pairs used), ``unpaired`` (runs of either side left out), ``diff`` (mean of
    ``treated - baseline``), ``ci95`` (bootstrap interval of that mean), ``p`` (sign-flip
    p-value), ``min_p`` (the smallest p that n pairs allow) and ``verdict``.
    """
    keys = sorted(
        (k for k in treated.keys() & baseline.keys()
         if treated[k] is not None and baseline[k] is not None),
        key=repr,
    )  # fmt: skip
    d = np.array([treated[k] - baseline[k] for k in keys], dtype=np.float64)
    unpaired = len(treated) + len(baseline) - 2 * len(keys)
    diff = mean(d)
    ci = bootstrap_ci(d, seed=seed)
    p = sign_flip_pvalue(d, seed=seed)
    return {
        "n": len(keys),
        "unpaired": unpaired,
        "diff": diff,
        "ci95": _as_list(ci),
        "p": p,
        "min_p": smallest_exact_p(len(keys)) if len(keys) <= EXACT_MAX_N else None,
        "verdict": verdict(diff, ci, p),
    }


def _as_list(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [ci[0], ci[1]]


__all__ = [
    "ALPHA",
    "EXACT_MAX_N",
    "METHOD_TEXT",
    "bootstrap_ci",
    "describe",
    "mean",
    "paired_comparison",
    "sample_sd",
    "sign_flip_pvalue",
    "smallest_exact_p",
    "verdict",
]
