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
    interval clears 0.5, and the moved images top the unlike-train scores."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(900, 32))
    held = rng.normal(size=(300, 32))
    held[:60, :2] += 2.5
    p = ShiftParams(n_bootstrap=200)
    scores, summary = domain_classifier(train, held, p)
    assert summary["n"] == 300 and summary["n_train"] == 900
    assert summary["shifted"] and summary["auc_ci"][0] > 0.55
    assert summary["auc_ci"][0] <= summary["auc"] <= summary["auc_ci"][1]
    top = np.argsort(-scores)[:60]
    assert (top < 60).mean() > 2 / 3  # 1/5 by chance


def test_domain_classifier_calls_a_split_drawn_like_train_unshifted():
    rng = np.random.default_rng(1)
    _, summary = domain_classifier(
        rng.normal(size=(900, 32)), rng.normal(size=(300, 32)), ShiftParams()
    )
    assert not summary["shifted"]
    assert summary["auc_ci"][0] <= 0.5 and abs(summary["auc"] - 0.5) < 0.06
    assert domain_classifier(
        rng.normal(size=(900, 32)), rng.normal(size=(300, 32)), ShiftParams(n_bootstrap=0)
    )[1] == {"n": 300, "n_train": 900, "auc": pytest.approx(0.5, abs=0.06), "shifted": None}
