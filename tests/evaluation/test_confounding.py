"""The worst group's gap adjusted for another factor: Mantel-Haenszel by hand, and a planted
confounder found where it is and not where it is not."""

import numpy as np
import pandas as pd
import pytest

from curator.evaluation.confounding import adjusted_gap
from curator.evaluation.metrics import Scored
from curator.params import EvaluateParams


def scored(correct: np.ndarray) -> Scored:
    """Two-class predictions right where ``correct`` says."""
    y = np.zeros(len(correct), dtype=int)
    pred = np.where(correct, 0, 1)
    return Scored(y=y, probs=np.eye(2)[pred] * 0.8 + 0.1, top_k=1, bins=5)


def test_mantel_haenszel_gap_by_hand():
    """Level 1: rest 8/10 right, group 6/10; level 2: rest 27/30, group 9/10. Weights
    10*10/20 = 5 and 30*10/40 = 7.5; gaps 0.2 and 0: MH gap (5 x 0.2) / 12.5 = 0.08. Raw:
    rest 35/40 = 0.875, group 15/20 = 0.75, gap 0.125."""
    cells = [(0, "1", 10, 8), (1, "1", 10, 6), (0, "2", 30, 27), (1, "2", 10, 9)]
    member, level, correct = [], [], []
    for side, lvl, n, right in cells:
        member += [side] * n
        level += [lvl] * n
        correct += [True] * right + [False] * (n - right)
    out = adjusted_gap(
        scored(np.array(correct)),
        np.array(member, dtype=bool),
        pd.Series(level, dtype="string"),
        EvaluateParams(n_bootstrap=0),
    )
    assert out["raw_gap"] == pytest.approx(0.125) and out["adjusted_gap"] == pytest.approx(0.08)
    assert out["share_explained"] == pytest.approx(1 - 0.08 / 0.125)
    assert out["n_levels_compared"] == 2 and "adjusted_gap_ci" not in out


def planted(effect_of_group: float, seed: int) -> tuple[Scored, np.ndarray, pd.Series]:
    """Group B holds 70% young images, the rest 20%; the model is right on 60% of young images
    and 92% of old ones, minus ``effect_of_group`` for B's own images."""
    rng = np.random.default_rng(seed)
    member = rng.random(3000) < 0.4
    young = rng.random(3000) < np.where(member, 0.7, 0.2)
    accuracy = np.where(young, 0.6, 0.92) - effect_of_group * member
    correct = rng.random(3000) < accuracy
    age = pd.Series(np.where(young, "0-12", "20-39"), dtype="string")
    return scored(correct), member, age


def test_a_gap_that_is_an_age_effect_is_explained_by_age():
    s, member, age = planted(0.0, seed=1)
    out = adjusted_gap(s, member, age, EvaluateParams(n_bootstrap=400))
    assert out["raw_gap"] > 0.12 and out["raw_gap_ci"][0] > 0.08  # a clear raw gap
    assert abs(out["adjusted_gap"]) < 0.03 and out["adjusted_gap_ci"][0] <= 0
    assert out["explains_most"] and out["share_explained"] > 0.8


def test_a_gap_of_the_group_itself_survives_the_adjustment():
    s, member, age = planted(0.15, seed=2)
    out = adjusted_gap(s, member, age, EvaluateParams(n_bootstrap=400))
    assert out["adjusted_gap"] == pytest.approx(0.15, abs=0.04)
    assert out["adjusted_gap_ci"][0] > 0.08 and not out["explains_most"]


def test_unknown_levels_are_left_out_and_no_shared_level_gives_none():
    s, member, age = planted(0.0, seed=3)
    age[:100] = pd.NA
    out = adjusted_gap(s, member, age, EvaluateParams(n_bootstrap=0))
    assert out["n_unknown"] == 100
    disjoint = pd.Series(np.where(member, "b", "a"), dtype="string")  # no level has both sides
    assert adjusted_gap(s, member, disjoint, EvaluateParams(n_bootstrap=0)) is None
