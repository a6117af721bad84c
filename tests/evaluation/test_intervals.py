"""The one module every interval comes from, checked against values worked out by hand."""

import math

import numpy as np
import pytest

from curator.evaluation.intervals import (
    interval_or_none,
    jeffreys_interval,
    percentile_interval,
    resample_counts,
    resamples,
)


@pytest.mark.parametrize(
    ("successes", "n", "level", "expected"),
    [
        # Beta(2, 1) has CDF x^2, so its q-quantile is sqrt(q)
        (1.5, 2.0, 0.90, (math.sqrt(0.05), math.sqrt(0.95))),
        # Beta(1, 2) has CDF 1 - (1 - x)^2, so its q-quantile is 1 - sqrt(1 - q)
        (0.5, 2.0, 0.90, (1 - math.sqrt(0.95), 1 - math.sqrt(0.05))),
        # Beta(1/2, 1/2) is the arcsine law, CDF (2/pi) asin(sqrt(x)): quantile sin^2(pi q / 2)
        (0.0, 0.0, 0.95, (math.sin(math.pi * 0.025 / 2) ** 2, math.sin(math.pi * 0.975 / 2) ** 2)),
    ],
)
def test_jeffreys_interval_is_the_beta_half_posterior(successes, n, level, expected):
    lo, hi = jeffreys_interval(successes, n, level)
    assert (float(lo), float(hi)) == pytest.approx(expected, abs=1e-12)


def test_jeffreys_interval_works_elementwise():
    lo, hi = jeffreys_interval([1.5, 0.5], [2, 2], 0.90)
    assert lo == pytest.approx([math.sqrt(0.05), 1 - math.sqrt(0.95)])
    assert hi == pytest.approx([math.sqrt(0.95), 1 - math.sqrt(0.05)])


def test_percentile_interval_by_hand_and_nan_resamples_ignored():
    # 0..10 at level 0.8: the 10% and 90% quantiles fall exactly on 1 and 9
    boot = np.arange(11, dtype=float)
    assert percentile_interval(boot, 0.8) == pytest.approx((1.0, 9.0))
    assert percentile_interval(np.r_[boot, np.nan, np.nan], 0.8) == pytest.approx((1.0, 9.0))
    # per column over the first axis (resamples first)
    lo, hi = percentile_interval(np.c_[boot, 2 * boot], 0.8)
    assert lo == pytest.approx([1.0, 2.0]) and hi == pytest.approx([9.0, 18.0])
    lo, hi = percentile_interval(np.full(5, np.nan), 0.9)
    assert np.isnan(lo) and np.isnan(hi)


def test_interval_or_none_when_there_is_nothing_to_resample():
    assert interval_or_none(np.empty(0), 0.9) == [None, None]
    assert interval_or_none(np.full(3, np.nan), 0.9) == [None, None]
    assert interval_or_none(np.arange(11.0), 0.8) == pytest.approx([1.0, 9.0])


def test_resample_counts_are_draws_with_replacement_of_n():
    counts = resample_counts(np.random.default_rng(3), 7, 500)
    assert counts.shape == (500, 7)
    assert (counts.sum(axis=1) == 7).all() and (counts >= 0).all()
    # each item is drawn Binomial(7, 1/7) times: mean 1, variance 6/7
    assert counts.mean() == pytest.approx(1.0, abs=0.05)
    assert counts.var() == pytest.approx(6 / 7, abs=0.08)
    # the same draws as resampling the indices: both forms resample alike
    drawn = [idx for (idx,) in resamples(np.random.default_rng(3), (7,), 500)]
    assert np.array_equal(counts, np.stack([np.bincount(d, minlength=7) for d in drawn]))


def test_resamples_draw_each_sample_on_its_own_keeping_its_size():
    rng = np.random.default_rng(0)
    drawn = list(resamples(rng, (3, 50), 4))
    assert len(drawn) == 4
    for small, large in drawn:
        assert len(small) == 3 and len(large) == 50
        assert small.max() < 3 and large.max() < 50 and min(small.min(), large.min()) >= 0
    again = list(resamples(np.random.default_rng(0), (3, 50), 4))
    for x, y in zip(drawn, again, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(x, y, strict=True))


def test_bootstrap_of_a_two_point_mean_has_the_hand_worked_distribution():
    """The mean of a resample of [0, 1] is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4."""
    counts = resample_counts(np.random.default_rng(5), 2, 20_000)
    means = counts @ np.array([0.0, 1.0]) / 2
    shares = [np.mean(means == v) for v in (0.0, 0.5, 1.0)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.01)
    assert percentile_interval(means, 0.9) == (0.0, 1.0)
