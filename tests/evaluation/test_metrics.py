"""Metrics from group sums agree with scikit-learn; bootstrap intervals cover at their level."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from curator.evaluation.intervals import percentile_interval
from curator.evaluation.metrics import Scored, group_sums, metrics_from_sums


def random_scored(n: int, k: int, seed: int, top_k: int = 2, bins: int = 10) -> Scored:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]  # better than chance, not perfect
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Scored(y=y, probs=probs, top_k=top_k, bins=bins)


def test_group_metrics_match_sklearn_per_group():
    s = random_scored(300, 4, seed=1)
    groups = np.random.default_rng(2).integers(0, 3, 300)
    groups[(groups == 2) & (s.y == 3)] = 0  # group 2 has no class 3 at all
    point, _ = group_sums(s, groups, 3, n_boot=0, seed=0)
    m = metrics_from_sums(point, s.n_classes, s.bins)
    for g in range(3):
        yt, yp, pr = s.y[groups == g], s.pred[groups == g], s.probs[groups == g]
        assert m["n"][g] == len(yt)
        assert m["accuracy"][g] == pytest.approx(accuracy_score(yt, yp))
        with warnings.catch_warnings():  # "y_pred contains classes not in y_true" (group 2)
            warnings.simplefilter("ignore", UserWarning)
            assert m["balanced_accuracy"][g] == pytest.approx(balanced_accuracy_score(yt, yp))
        assert m["macro_f1"][g] == pytest.approx(f1_score(yt, yp, average="macro"))
        assert m["top_k_accuracy"][g] == pytest.approx(
            top_k_accuracy_score(yt, pr, k=2, labels=range(4))
        )
        present = np.unique(yt)
        p, r, f, support = precision_recall_fscore_support(yt, yp, labels=present, zero_division=0)
        assert np.allclose(m["recall"][g, present], r) and np.allclose(m["f1"][g, present], f)
        assert np.allclose(m["support"][g, present], support)
        predicted = np.isin(present, np.unique(yp))
        assert np.allclose(m["precision"][g, present][predicted], p[predicted])
        # expected calibration error, written out directly
        conf, correct = pr.max(axis=1), (yp == yt)
        bins = np.minimum((conf * 10).astype(int), 9)
        ece = sum(abs(correct[bins == b].sum() - conf[bins == b].sum()) for b in range(10)) / len(
            yt
        )
        assert m["ece"][g] == pytest.approx(ece)
    assert np.isnan(m["recall"][2, 3])  # undefined, not zero


def test_bootstrap_is_seeded_and_resamples_differ():
    s = random_scored(200, 3, seed=3)
    codes = np.zeros(200, dtype=int)
    _, a = group_sums(s, codes, 1, n_boot=50, seed=7)
    _, b = group_sums(s, codes, 1, n_boot=50, seed=7)
    assert np.array_equal(a, b)
    acc = metrics_from_sums(a[:, 0], 3, s.bins)["accuracy"]
    assert acc.std() > 0.01 and (a[:, 0, :3].sum(axis=1) == 200).all()  # n fixed per resample


def test_percentile_interval_covers_the_true_accuracy_near_its_level():
    """Simulated test sets with a known accuracy of 0.8: the 90% interval should hold it in
    about 90% of them (percentile bootstrap: a little less at n=150)."""
    true_acc, n, runs, covered = 0.8, 150, 300, 0
    rng = np.random.default_rng(11)
    for run in range(runs):
        y = rng.integers(0, 2, n)
        right = rng.random(n) < true_acc
        pred = np.where(right, y, 1 - y)
        probs = np.eye(2)[pred] * 0.7 + 0.15
        s = Scored(y=y, probs=probs, top_k=1, bins=5)
        _, boots = group_sums(s, np.zeros(n, dtype=int), 1, n_boot=300, seed=run)
        lo, hi = percentile_interval(metrics_from_sums(boots[:, 0], 2, 5)["accuracy"], 0.90)
        covered += lo <= true_acc <= hi
    assert 0.84 <= covered / runs <= 0.95
