"""The evaluate stage on the demo: its numbers trace back to the predictions, the leaks and the
metadata; bad params are refused with the key."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from curator import artifacts
from curator.errors import ConfigError, DataError
from curator.evaluation.subgroups import condition_groupings
from curator.params import EvaluateParams
from curator.stages import evaluate


def test_overall_and_per_group_numbers_trace_to_predictions(audited_demo):
    _, audits, summary = audited_demo
    preds = pd.read_parquet(audits / artifacts.PREDICTIONS)
    test = preds[preds["split"] == "test"].merge(
        pd.read_parquet(audits / artifacts.MANIFEST)[["path", "site", "device"]], on="path"
    )
    right = test["label"] == test["predicted"]
    assert summary["n"] == len(test)
    assert summary["overall"]["accuracy"] == pytest.approx(right.mean(), abs=1e-6)
    lo, hi = summary["overall"]["accuracy_ci"]
    assert lo < right.mean() < hi
    assert json.loads((audits / artifacts.EVALUATION).read_text())["n"] == len(test)

    rows = pd.read_parquet(audits / artifacts.SUBGROUPS)
    acc = rows[(rows["grouping"] == "site") & (rows["metric"] == "accuracy")].set_index("group")
    by_site = right.groupby(test["site"]).agg(["mean", "size"])
    for site, (mean, size) in by_site.iterrows():
        assert acc.loc[site, "n"] == size
        if size >= 30:
            assert acc.loc[site, "value"] == pytest.approx(mean, abs=1e-9)
        else:
            assert acc.loc[site, "status"].startswith("too few samples")
            assert pd.isna(acc.loc[site, "value"])
    conditions = {f"image {p}" for p in ("brightness", "contrast", "sharpness", "entropy")}
    conditions.add("image unlike_train")  # the shift stage's domain score, binned the same way
    assert set(rows["grouping"]) == {"site", "device", "site x device", "slice"} | conditions
    # the bins of the unlike-train score are deciles of the test images' scores
    shift = pd.read_parquet(audits / artifacts.SHIFT).merge(test[["path"]], on="path")
    assert len(shift) == len(test)
    lowest = summary["subgroups"]["image unlike_train"]["groups"]
    first = sorted(lowest)[0]
    assert first.startswith("01/10 most train-like ")
    assert lowest[first]["n"] == (shift["unlike_train"] < shift["unlike_train"].quantile(0.1)).sum()


def test_leak_corrected_metrics_leave_out_exactly_the_test_images_with_a_train_twin(audited_demo):
    _, audits, summary = audited_demo
    leakage = pd.read_parquet(audits / artifacts.LEAKAGE)
    leaked = set(
        leakage.loc[(leakage["split"] == "test") & (leakage["twin_split"] == "train"), "path"]
    )
    corrected = summary["data_quality_corrected"]["without_leaks"]
    assert corrected["n_excluded"] == len(leaked) > 0
    assert corrected["n_kept"] == summary["n"] - len(leaked)
    # the planted leaks are copies of training images: the model gets them right more often
    assert corrected["excluded_only_accuracy"] >= corrected["clean_accuracy"]
    inflation = corrected["raw_accuracy"] - corrected["clean_accuracy"]
    assert corrected["inflation_accuracy"] == pytest.approx(inflation, abs=1e-6)


def test_data_quality_rates_sit_next_to_each_groups_error(audited_demo):
    _, audits, _ = audited_demo
    rows = pd.read_parquet(audits / artifacts.SUBGROUPS)
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    flagged = pd.read_parquet(audits / artifacts.ISSUES).query("issue == 'label_issue'")["path"]
    readable = manifest[manifest["readable"]]
    rate = readable["path"].isin(flagged).groupby(readable["site"]).mean()
    got = rows[(rows["grouping"] == "site") & (rows["metric"] == "label_issue_rate")]
    assert got.set_index("group")["value"].to_dict() == pytest.approx(rate.to_dict())


def test_unknown_feature_and_empty_split_are_refused(audited_demo):
    params, audits, _ = audited_demo
    bad = replace(params, evaluate=EvaluateParams(sensitive_features=("skin_tone",)))
    with pytest.raises(ConfigError, match=r"evaluate\.sensitive_features names 'skin_tone'"):
        evaluate.run(bad, audits)
    with pytest.raises(DataError, match="no predictions for split 'train'"):
        evaluate.run(replace(params, evaluate=EvaluateParams(split="train")), audits)


def test_condition_bins_are_quantiles_of_the_evaluated_images_named_in_words():
    n = 200
    values = pd.DataFrame(
        {
            "brightness": np.linspace(0, 1, n),
            "contrast": np.full(n, 0.2),  # one value: no bins
            "sharpness": np.r_[np.zeros(n - 5), np.ones(5)],  # nearly one value: no bins
            "saturation": np.linspace(0, 1, n),
            "entropy": np.linspace(0, 5, n),
        }
    )
    reference = np.arange(n) % 2 == 0  # the evaluated half sets the edges
    by_name = {g.name: g.labels for g in condition_groupings(values, reference, bins=10)}
    assert set(by_name) == {"image brightness", "image saturation", "image entropy"}
    brightness = by_name["image brightness"]
    assert brightness[reference].value_counts().eq(10).all()  # ten deciles of 100 images
    assert brightness.iat[0].startswith("01/10 darkest 10%: brightness < 0.")
    assert brightness.iat[n - 1].startswith("10/10 brightest 10%: brightness >= 0.")
    assert by_name["image entropy"].iat[0].startswith("01/10 emptiest 10%")
    assert sorted(brightness.unique()) == list(brightness.drop_duplicates())  # low to high


def test_demo_audit_scores_every_image_property_as_groups(audited_demo):
    _, _, summary = audited_demo
    for name in ("image brightness", "image contrast", "image sharpness", "image entropy"):
        assert name in summary["subgroups"], name
    assert "image saturation" not in summary["subgroups"]  # the digits are greyscale
    # parity metrics are for the recorded groups only, not for groups derived from the pixels
    with_parity = {g for g, s in summary["subgroups"].items() if "fairness" in s}
    assert "site" in with_parity and not any(g.startswith("image ") for g in with_parity)
    assert "slice" not in with_parity
    recorded = {g for g, s in summary["subgroups"].items() if s["recorded"]}
    assert recorded == {"site", "device", "site x device"}


@pytest.mark.parametrize(("n_classes", "shown"), [(2, False), (3, True)])
def test_top_k_accuracy_only_where_it_can_miss(n_classes, shown):
    """Top-3 (top-k capped at the class count) of a 2-class task is 1 whatever the model:
    it is not reported; with 3 classes top-2 is."""
    from curator.evaluation.metrics import Scored
    from curator.stages.evaluate import _overall

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(n_classes), 200)
    y = rng.integers(0, n_classes, 200)
    s = Scored(y=y, probs=probs, top_k=min(3, n_classes - 1 if shown else n_classes), bins=5)
    out = _overall(s, [str(c) for c in range(n_classes)], EvaluateParams(n_bootstrap=20))
    assert ("top_k_accuracy" in out) is shown
    assert (out["top_k"] is not None) is shown
    assert "accuracy" in out and "ece" in out
