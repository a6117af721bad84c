"""Confidence intervals, in one place: bootstrap resamples, percentile intervals, and the
Jeffreys interval of a proportion.

Every interval curator reports draws its resamples here, so all of them resample alike (items
drawn with replacement, as many as there are). Two forms: ``resample_counts`` says how often
each item appears in each resample, which turns any statistic that is a sum over items into a
weighted sum (thousands of resamples in a few matrix products: metrics, agreement);
``resamples`` gives the drawn indices, each sample of several resampled on its own, for
statistics that are not sums (an AUC, a noise rate). fairlearn likewise keeps its bootstrap in
one module.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import numpy as np


def resample_counts(rng: np.random.Generator, n: int, reps: int) -> np.ndarray:
    """(reps, n) float counts: how many times each of ``n`` items is drawn in each of ``reps``
    bootstrap resamples of size ``n`` (every row sums to ``n``)."""
    draws = rng.integers(0, n, size=(reps, n))
    offsets = (np.arange(reps) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=reps * n).reshape(reps, n).astype(float)


def resamples(
    rng: np.random.Generator, sizes: Sequence[int], reps: int
) -> Iterator[tuple[np.ndarray, ...]]:
    """For each of ``reps`` resamples, one index array per sample: sample j (of ``sizes[j]``
    items) resampled on its own with replacement, its size kept (a stratified bootstrap, e.g.
    the positives and the negatives of an AUC)."""
    for _ in range(reps):
        yield tuple(rng.integers(0, size, size) for size in sizes)


def percentile_interval(boot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` percentile interval over the first axis of ``boot`` (resamples
    first), ignoring resamples where the statistic is undefined (NaN); NaN where all are."""
    boot = np.asarray(boot, dtype=float)
    tail = (1 - level) / 2
    with warnings.catch_warnings():  # a statistic undefined in every resample: NaN interval
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(boot, [tail, 1 - tail], axis=0)
    return lo, hi


def interval_or_none(boot: np.ndarray, level: float) -> list[float | None]:
    """``percentile_interval`` of a 1-d array of resampled values as JSON stores it: two floats,
    or [None, None] when there is no resample (n_bootstrap 0) or none is defined."""
    if not len(boot):
        return [None, None]
    lo, hi = percentile_interval(boot, level)
    return [None, None] if np.isnan(lo) else [float(lo), float(hi)]


def jeffreys_interval(successes, n, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys interval of a proportion: the central ``level`` interval of the Beta(s + 1/2,
    n - s + 1/2) posterior, for ``successes`` (may be fractional, e.g. a sum of probabilities)
    out of ``n``; honest at small n and at 0 or n successes (Brown, Cai and DasGupta 2001)."""
    from scipy.stats import beta

    successes, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    tail = (1 - level) / 2
    a, b = successes + 0.5, n - successes + 0.5
    return beta.ppf(tail, a, b), beta.ppf(1 - tail, a, b)
