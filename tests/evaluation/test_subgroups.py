"""Per-group evaluation: numbers against pandas, the min-size rule, honest worst-group gaps."""

import numpy as np
import pandas as pd
import pytest

from curator.evaluation.metrics import Scored
from curator.evaluation.subgroups import Grouping, evaluate_grouping, feature_groupings
from curator.params import EvaluateParams

CLASSES = ["a", "b", "c"]


def simulated(sizes: dict[str, int], accuracy: dict[str, float], seed: int):
    """Three-class predictions whose accuracy per group is drawn at the given rate."""
    rng = np.random.default_rng(seed)
    groups = np.concatenate([[g] * n for g, n in sizes.items()])
    y = rng.integers(0, 3, len(groups))
    right = rng.random(len(groups)) < np.array([accuracy[g] for g in groups])
    pred = np.where(right, y, (y + rng.integers(1, 3, len(groups))) % 3)
    probs = np.full((len(groups), 3), 0.15)
    probs[np.arange(len(groups)), pred] = 0.7
    return Scored(y=y, probs=probs, top_k=2, bins=5), pd.Series(groups)


def table(rows):
    return pd.DataFrame(rows).set_index(["group", "metric"])


def test_per_group_numbers_match_pandas_and_the_min_size_rule():
    s, groups = simulated(
        {"big": 120, "mid": 80, "tiny": 12}, {"big": 0.9, "mid": 0.6, "tiny": 0.5}, 0
    )
    p = EvaluateParams(min_group_size=30, n_bootstrap=200, min_class_support=5)
    rows, summary = evaluate_grouping(s, Grouping("site", groups), CLASSES, p)
    t = table(rows)
    frame = pd.DataFrame({"g": groups, "ok": s.y == s.pred, "y": s.y})
    expected = frame.groupby("g")["ok"].mean()
    for g in ("big", "mid"):
        assert t.loc[(g, "accuracy"), "value"] == pytest.approx(expected[g])
        assert t.loc[(g, "accuracy"), "n"] == (groups == g).sum()
        lo, hi = t.loc[(g, "accuracy"), ["ci_low", "ci_high"]]
        assert lo < expected[g] < hi
        recall_b = frame[(frame.g == g) & (frame.y == 1)]["ok"].mean()
        assert t.loc[(g, "recall[b]"), "value"] == pytest.approx(recall_b)
        rest = frame[frame.g != g]["ok"].mean()
        assert t.loc[(g, "accuracy_gap_vs_rest"), "value"] == pytest.approx(rest - expected[g])
    tiny = t.loc["tiny"]
    assert tiny["value"].isna().all() and (tiny["status"] == "too few samples (n=12 < 30)").all()
    assert summary["too_few_samples"] == ["tiny"]
    assert "accuracy" not in summary["groups"]["tiny"]
    # difference, ratio and the worst group consider only the groups large enough to report
    assert summary["difference"]["accuracy"] == pytest.approx(expected["big"] - expected["mid"])
    assert summary["ratio"]["accuracy"] == pytest.approx(expected["mid"] / expected["big"])
    worst = summary["worst_group"]
    assert worst["group"] == "mid" and worst["significant"]
    assert worst["gap_ci"][0] > 0 and worst["ci_level"] == pytest.approx(1 - 0.05 / 2)


def test_equal_groups_are_rarely_called_significantly_worse():
    """Three groups of equal accuracy: the worst one, picked after looking, must not be declared
    worse than the rest more often than the nominal 5% (Bonferroni over the groups)."""
    p = EvaluateParams(min_group_size=10, n_bootstrap=200)
    runs, false_alarms = 120, 0
    for seed in range(runs):
        s, groups = simulated({"x": 60, "y": 60, "z": 60}, {"x": 0.8, "y": 0.8, "z": 0.8}, seed)
        p_seeded = EvaluateParams(**(vars(p) | {"seed": seed}))
        _, summary = evaluate_grouping(s, Grouping("g", groups), CLASSES, p_seeded)
        false_alarms += summary["worst_group"]["significant"]
    assert false_alarms / runs <= 0.06


def test_feature_groupings_cross_features_and_leave_unknown_values_out():
    frame = pd.DataFrame({"site": ["A", "A", "B", None, ""], "device": ["p", "s", "p", "s", "p"]})
    made = {g.name: g.labels for g in feature_groupings(frame, ("site", "device"), 2)}
    assert made["site"].tolist()[:3] == ["A", "A", "B"] and made["site"][3:].isna().all()
    assert made["site x device"].tolist()[:3] == ["A | p", "A | s", "B | p"]
    assert made["site x device"][3:].isna().all()  # unknown on one feature: in no group
    assert list(made) == ["site", "device", "site x device"]
    assert len(feature_groupings(frame, ("site", "device"), 1)) == 2


def test_images_with_an_unknown_value_are_in_no_group_and_no_gap():
    """The groups' numbers are the same as on the known images alone; the unknown ones are
    counted once, in n_unknown."""
    s, groups = simulated({"A": 300, "B": 300, "C": 40}, {"A": 0.9, "B": 0.6, "C": 0.3}, seed=4)
    labels = groups.astype("string").mask(groups == "C")
    p = EvaluateParams(n_bootstrap=200, min_group_size=30)
    _, with_unknown = evaluate_grouping(s, Grouping("site", labels), CLASSES, p)
    known = (groups != "C").to_numpy()
    alone = Scored(s.y[known], s.probs[known], s.top_k, s.bins)
    _, without = evaluate_grouping(
        alone, Grouping("site", groups[known].reset_index(drop=True)), CLASSES, p
    )
    assert with_unknown["n_unknown"] == 40 and without["n_unknown"] == 0
    assert set(with_unknown["groups"]) == {"A", "B"}
    assert with_unknown["groups"] == without["groups"]
    assert with_unknown["worst_group"] == without["worst_group"]
