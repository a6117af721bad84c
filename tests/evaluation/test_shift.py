"""Split shift: property KS tests and the embedding domain classifier find a planted shift and
stay quiet without one."""

import numpy as np
import pandas as pd
import pytest

from curator.evaluation.shift import domain_classifier, property_shift
from curator.features.properties import PROPERTY_NAMES
from curator.params import ShiftParams


def test_a_held_out_split_drawn_differently_from_train_is_called_shifted():
    rng = np.random.default_rng(0)
    split = np.repeat(["train", "val", "test"], [400, 200, 200])
    frame = pd.DataFrame({name: rng.normal(0.5, 0.1, len(split)) for name in PROPERTY_NAMES})
    frame["split"] = split
    frame.loc[frame["split"] == "test", "brightness"] -= 0.15  # the test photos are darker
    shift = property_shift(frame, 0.01)
    assert shift["n_tests"] == 2 * len(PROPERTY_NAMES)
    assert shift["tests"]["brightness"]["test"]["shifted"]
    assert shift["tests"]["brightness"]["test"]["ks"] > 0.4
    others = [t for name, by in shift["tests"].items() for s, t in by.items()]
    assert sum(t["shifted"] for t in others) == 1  # nothing else, val included


def test_domain_classifier_finds_a_shifted_split_and_its_most_shifted_images():
    """Test images are drawn like train, except 60 of 300 moved along two directions: the AUC
    beats every random relabelling, and the moved images top the unlike-train scores."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(900, 32))
    held = rng.normal(size=(300, 32))
    held[:60, :2] += 2.5
    scores, summary = domain_classifier(train, held, ShiftParams(n_permutations=199))
    assert summary["n"] == 300 and summary["n_train"] == 900
    assert summary["shifted"] and summary["p_value"] == 1 / 200
    assert summary["auc"] > summary["null_auc_95"] + 0.05
    top = np.argsort(-scores)[:60]
    assert (top < 60).mean() > 2 / 3  # 1/5 by chance


def test_domain_classifier_calls_a_split_drawn_like_train_unshifted():
    rng = np.random.default_rng(1)
    _, summary = domain_classifier(
        rng.normal(size=(900, 32)), rng.normal(size=(300, 32)), ShiftParams()
    )
    assert not summary["shifted"] and summary["p_value"] > 0.01
    assert abs(summary["auc"] - 0.5) < 0.06 and 0.5 < summary["null_auc_95"] < 0.56
    assert domain_classifier(
        rng.normal(size=(900, 32)), rng.normal(size=(300, 32)), ShiftParams(n_permutations=0)
    )[1] == {"n": 300, "n_train": 900, "auc": pytest.approx(0.5, abs=0.06), "shifted": None}


def test_false_alarms_on_exchangeable_splits_stay_at_the_level():
    """300 seeded null data sets (every row from one distribution, a fifth called held out):
    a permutation test at level 0.05 calls about 5% of them shifted (binomial sd 1.3%); the
    bootstrap interval of the out-of-fold scores it replaced ignored the refits' variance."""
    calls = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(150, 6))
        p = ShiftParams(alpha=0.05, n_permutations=99, seed=seed)
        calls.append(domain_classifier(x[:120], x[120:], p)[1]["shifted"])
    assert 0.01 <= np.mean(calls) <= 0.09


def test_out_of_fold_ridge_scores_and_aucs_match_scikit_learn():
    from sklearn.linear_model import Ridge
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from curator.evaluation.shift import _aucs, _fold_fits, _folds, _out_of_fold_scores

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 5)) * [1, 2, 3, 4, 0.5] + 7
    y = (rng.random(200) < 0.3).astype(float)
    folds = _folds(200, 4, rng)
    ours = _out_of_fold_scores(x, y[:, None], _fold_fits(x, folds, 0.7))[:, 0]
    for k in range(4):
        fit = folds != k
        scaler = StandardScaler().fit(x[fit])
        model = Ridge(alpha=0.7 * fit.sum()).fit(scaler.transform(x[fit]), y[fit])
        want = model.predict(scaler.transform(x[~fit]))
        np.testing.assert_allclose(ours[~fit], want, atol=1e-12)
    tied = np.round(ours, 1)  # ties count half, as scikit-learn counts them
    assert _aucs(tied[:, None], y)[0] == pytest.approx(roc_auc_score(y, tied))


def test_too_few_permutations_for_the_level_are_refused():
    from curator.errors import ConfigError

    with pytest.raises(ConfigError, match=r"shift\.n_permutations"):
        ShiftParams(alpha=0.01, n_permutations=50)
