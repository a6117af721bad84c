"""Paired comparison of two models on the same images: McNemar by hand, and the bootstrap
interval of the change checked in a seeded simulation where the true change is known."""

import math

import numpy as np
import pytest

from curator.evaluation.metrics import Scored
from curator.evaluation.paired import mcnemar, paired_metrics, worst_group_change


def scored(y: np.ndarray, correct: np.ndarray, confidence: float = 0.8) -> Scored:
    """Two classes; the predicted class gets ``confidence``: the true one when ``correct``."""
    pred = np.where(correct, y, 1 - y)
    probs = np.full((len(y), 2), 1 - confidence)
    probs[np.arange(len(y)), pred] = confidence
    return Scored(y, probs, top_k=1, bins=10)


def paired_draw(rng, n: int, p_a: float, p_both: float, p_b: float):
    """Correctness of A and B per image with P(A right) = p_a, P(B right) = p_b and
    P(both right) = p_both: the correlation two models trained on one dataset have."""
    u = rng.random(n)
    right_a = u < p_a
    # B right: all of 'both', plus (p_b - p_both) of the mass where A is wrong
    right_b = (u < p_both) | ((u >= p_a) & (u < p_a + (p_b - p_both)))
    return right_a, right_b


def test_mcnemar_by_hand():
    a = np.array([True] * 5 + [False] * 10 + [True] * 3)
    b = np.array([True] * 5 + [True] * 10 + [False] * 3)
    test = mcnemar(a, b)
    assert (test["only_a"], test["only_b"]) == (3, 10)
    # two-sided exact binomial: 2 * P(X <= 3), X ~ Bin(13, 1/2)
    tail = sum(math.comb(13, k) for k in range(4)) / 2**13
    assert test["p_value"] == pytest.approx(2 * tail)
    assert mcnemar(a, a)["p_value"] == 1.0


def test_paired_interval_covers_the_true_change_in_a_seeded_simulation():
    """200 test sets of 400 images from a population where B is right 84% of the time, A 80%,
    both 76%: the true change of accuracy is +0.04. The 95% paired interval holds it in about
    95% of them (188 with this seed), and is narrower than an unpaired one."""
    rng = np.random.default_rng(0)
    n, truth, covered, widths = 400, 0.04, 0, []
    for trial in range(200):
        right_a, right_b = paired_draw(rng, n, 0.80, 0.76, 0.84)
        y = rng.integers(0, 2, n)
        pm = paired_metrics(scored(y, right_a), scored(y, right_b), np.zeros(n, int), 1, 400, trial)
        point, boot = pm.change("accuracy")
        assert point[0] == pytest.approx(right_b.mean() - right_a.mean())
        lo, hi = np.quantile(boot[:, 0], [0.025, 0.975])
        covered += lo <= truth <= hi
        widths.append(hi - lo)
    assert covered >= 180, covered  # 95% nominal; 180/200 is far below what chance allows
    # treating the two accuracies as independent gives an interval of the change 0.106 wide
    # (3.92 * sqrt((0.8 * 0.2 + 0.84 * 0.16) / 400)); pairing makes it about 0.067
    assert np.mean(widths) < 0.09


def test_mcnemar_holds_its_level_when_nothing_changed():
    rng = np.random.default_rng(1)
    alarms = sum(
        mcnemar(*paired_draw(rng, 300, 0.8, 0.7, 0.8))["p_value"] < 0.05 for _ in range(400)
    )
    assert alarms <= 0.07 * 400, alarms  # an exact test: at most 5% in expectation


def test_worst_group_change_finds_the_improved_group():
    """Group 1 is the worst for A (50%) and B fixes half of its errors; group 0 stays at 90%."""
    n = 200
    y = np.zeros(n, int)
    codes = np.repeat([0, 1], 100)
    right_a = np.r_[np.arange(100) % 10 != 0, np.arange(100) % 2 == 0]
    right_b = np.r_[np.arange(100) % 10 != 0, np.arange(100) % 4 != 3]
    pm = paired_metrics(scored(y, right_a), scored(y, right_b), codes, 2, 300, 0)
    w = worst_group_change(pm, np.array([True, True]))
    assert (w["worst_group_a"], w["worst_group_b"]) == (1, 1)
    assert (w["worst_a"], w["worst_b"]) == pytest.approx((0.5, 0.75))
    assert (w["gap_a"], w["gap_b"]) == pytest.approx((0.4, 0.15))
    assert np.quantile(w["gap_boot_b"] - w["gap_boot_a"], 0.975) < 0  # the gap really shrank


def test_paired_metrics_refuse_different_labels():
    y = np.zeros(4, int)
    right = np.ones(4, bool)
    with pytest.raises(ValueError, match="same labels"):
        paired_metrics(scored(y, right), scored(1 - y, right), np.zeros(4, int), 1, 10, 0)
