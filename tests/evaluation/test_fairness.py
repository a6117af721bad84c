"""Named fairness metrics: the same numbers as fairlearn's functions on the same predictions."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from curator.errors import ConfigError
from curator.evaluation.metrics import Scored
from curator.evaluation.subgroups import Grouping, evaluate_grouping
from curator.params import EvaluateParams


def predictions(n_classes: int, sizes: dict[str, int], skew: dict[str, float], seed: int):
    """Predictions whose errors lean towards class 0 in proportion to the group's skew."""
    rng = np.random.default_rng(seed)
    groups = np.concatenate([[g] * n for g, n in sizes.items()])
    y = rng.integers(0, n_classes, len(groups))
    wrong = rng.random(len(groups)) < np.array([skew[g] for g in groups])
    pred = np.where(wrong, 0, y)
    noise = rng.random(len(groups)) < 0.1
    pred = np.where(noise, rng.integers(0, n_classes, len(groups)), pred)
    probs = np.full((len(groups), n_classes), 0.1 / n_classes)
    probs[np.arange(len(groups)), pred] += 0.9
    return Scored(y=y, probs=probs, top_k=1, bins=5), pd.Series(groups)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_fairness_numbers_equal_fairlearn(n_classes):
    classes = [f"c{k}" for k in range(n_classes)]
    sizes = {"a": 300, "b": 200, "c": 120, "tiny": 15}
    s, groups = predictions(n_classes, sizes, {"a": 0.05, "b": 0.25, "c": 0.4, "tiny": 0.1}, 0)
    p = EvaluateParams(min_group_size=30, min_class_support=10, n_bootstrap=300)
    rows, summary = evaluate_grouping(s, Grouping("site", groups), classes, p)
    named = summary["fairness"]["per_class"]
    scored = [1] if n_classes == 2 else range(n_classes)
    assert sorted(named) == [classes[c] for c in scored]
    keep = groups.isin(["a", "b", "c"]).to_numpy()  # the groups large enough to report
    t = pd.DataFrame(rows).set_index(["group", "metric"])
    for c in scored:
        yt, yp, sf = s.y[keep] == c, s.pred[keep] == c, groups[keep].to_numpy()
        entry = named[classes[c]]
        assert entry["groups_compared"]["demographic_parity"] == ["a", "b", "c"]
        for ours, theirs in (
            ("demographic_parity_difference", demographic_parity_difference),
            ("demographic_parity_ratio", demographic_parity_ratio),
            ("equalized_odds_difference", equalized_odds_difference),
            ("equalized_odds_ratio", equalized_odds_ratio),
        ):
            assert entry[ours] == pytest.approx(theirs(yt, yp, sensitive_features=sf), abs=1e-6)
            lo, hi = entry[f"{ours}_ci"]
            assert lo <= entry[ours] + 1e-6 and hi >= entry[ours] - 1e-6 and lo < hi
        frame = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
            },
            y_true=yt,
            y_pred=yp,
            sensitive_features=sf,
        )
        for g in ("a", "b", "c"):
            for rate in ("selection_rate", "true_positive_rate", "false_positive_rate"):
                value = t.loc[(g, f"{rate}[{classes[c]}]"), "value"]
                assert value == pytest.approx(frame.by_group.loc[g, rate], abs=1e-9)
        assert (
            t.loc[("tiny", f"selection_rate[{classes[c]}]"), "value"]
            != t.loc[("tiny", f"selection_rate[{classes[c]}]"), "value"]
        )  # NaN: too few samples, not compared
    largest = summary["fairness"]["largest"]["demographic_parity_difference"]
    assert largest["value"] == max(e["demographic_parity_difference"] for e in named.values())
    # errors pile onto class 0 in group c: its selection rate of class 0 is the highest
    c0 = t.xs("selection_rate[c0]", level="metric")["value"] if n_classes > 2 else None
    if c0 is not None:
        assert c0["c"] > c0["b"] > c0["a"]


def test_a_gap_the_data_cannot_support_has_an_interval_reaching_zero_and_a_real_one_does_not():
    classes = ["no", "yes"]
    equal, _ = predictions(2, {"a": 400, "b": 400}, {"a": 0.2, "b": 0.2}, 1)
    skewed, groups = predictions(2, {"a": 400, "b": 400}, {"a": 0.05, "b": 0.5}, 1)
    p = EvaluateParams(min_group_size=30, n_bootstrap=500)
    lows, below = {}, {}
    for name, s in (("equal", equal), ("skewed", skewed)):
        _, summary = evaluate_grouping(s, Grouping("g", groups), classes, p)
        entry = summary["fairness"]["per_class"]["yes"]
        lows[name] = entry["demographic_parity_difference_ci"][0]
        below[name] = entry["below_ratio_floor"]
    # max - min is never below zero; a real gap (about 0.22 here) keeps its lower end away from it
    assert lows["equal"] < 0.03 and lows["skewed"] > 0.1
    # b's 'yes' images are half called 'no': selection 0.25 against 0.475 and TPR about 0.5
    # against 0.95, both ratios near 0.5: findings; equal groups are not
    assert below == {"equal": [], "skewed": ["demographic_parity_ratio", "equalized_odds_ratio"]}


def test_a_ratio_of_two_tiny_rates_is_not_a_finding():
    # group b never mistakes a 'no' for 'yes', group a does 5 times in 300: the FPR ratio is 0
    # and its bootstrap interval [0, 0], but the groups do not differ beyond chance
    y = np.array([0] * 300 + [1] * 100 + [0] * 300 + [1] * 100)
    pred = y.copy()
    pred[:5] = 1
    probs = np.eye(2)[pred] * 0.8 + 0.1
    s = Scored(y=y, probs=probs, top_k=1, bins=5)
    groups = pd.Series(["a"] * 400 + ["b"] * 400)
    _, summary = evaluate_grouping(s, Grouping("g", groups), ["no", "yes"], EvaluateParams())
    entry = summary["fairness"]["per_class"]["yes"]
    assert entry["equalized_odds_ratio"] == 0.0 and entry["equalized_odds_ratio_ci"][1] == 0.0
    assert entry["p_values"]["false_positive_rate"] > 0.05
    assert entry["below_ratio_floor"] == []


def test_positive_class_is_named_and_checked():
    s, groups = predictions(2, {"a": 100, "b": 100}, {"a": 0.1, "b": 0.3}, 2)
    p = EvaluateParams(min_group_size=30, n_bootstrap=0, positive_class="no")
    _, summary = evaluate_grouping(s, Grouping("g", groups), ["no", "yes"], p)
    assert list(summary["fairness"]["per_class"]) == ["no"]
    with pytest.raises(ConfigError, match=r"evaluate\.positive_class: 'maybe' is not a class"):
        evaluate_grouping(
            s, Grouping("g", groups), ["no", "yes"], EvaluateParams(positive_class="maybe")
        )
