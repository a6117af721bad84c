"""Label quality: planted flips in separable data, user probabilities, noise rates."""

import numpy as np
import pandas as pd
import pytest

from curator.checks import CheckInputs, label_quality
from curator.errors import DataError
from curator.params import LabelQualityParams


def blobs(n_per_class=60, flips=(3, 70, 150), seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 8)) * 4
    y = np.repeat(np.arange(3), n_per_class)
    x = centres[y] + rng.normal(size=(len(y), 8))
    given = y.copy()
    for k in flips:
        given[k] = (y[k] + 1) % 3
    manifest = pd.DataFrame(
        {
            "sample_id": [f"{k:064x}" for k in range(len(y))],
            "path": [f"img{k}.png" for k in range(len(y))],
            "split": np.where(np.arange(len(y)) % 4, "train", "test"),
            "label": [f"c{g}" for g in given],
            "readable": True,
            "site": np.where(np.arange(len(y)) % 3, "A", "B"),
        }
    )
    vectors = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return manifest, (manifest["sample_id"].tolist(), vectors), y


@pytest.mark.parametrize("classifier", ["kernel_logistic", "logistic"])
def test_planted_flips_are_found(classifier):
    manifest, embeddings, _ = blobs()
    params = LabelQualityParams(classifier=classifier, subgroups=("site",))
    result = label_quality.run(CheckInputs(manifest=manifest, embeddings=embeddings), params)
    assert set(result.flags["path"]) == {"img3.png", "img70.png", "img150.png"}
    table = result.tables["label_issues"].set_index("path")
    assert table.at["img3.png", "suggested_label"] == "c0"  # the true class
    summary = result.summary
    assert summary["evidence"]["supported"] and summary["n_label_issues"] == 3
    assert summary["estimated_noise_rate"] == pytest.approx(3 / 180, abs=0.02)
    low, high = summary["estimated_noise_rate_ci"]
    assert low <= summary["estimated_noise_rate"] <= high
    assert summary["evidence"]["planted"]["auc_corrected"] >= 0.9
    assert set(summary["flagged_share_per_subgroup"]["site"]) == {"A", "B"}
    assert result.tables["pred_probs"].filter(like="p_").sum(axis=1).round(6).eq(1).all()
    # each flag's score is the estimated probability that the label is wrong, not a capped 1.0
    assert result.flags["score"].between(0, 1).all() and result.flags["score"].nunique() > 1


def test_weak_probabilities_abstain_from_a_count_but_keep_the_ranking():
    # Classes that overlap almost entirely: the probabilities cannot tell errors from the rest.
    rng = np.random.default_rng(1)
    manifest, (ids, _), y = blobs(n_per_class=200, flips=tuple(range(0, 600, 7)))
    x = rng.normal(size=(600, 8)) + 0.15 * np.eye(8)[y]
    vectors = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    result = label_quality.run(
        CheckInputs(manifest=manifest, embeddings=(ids, vectors)), LabelQualityParams()
    )
    summary = result.summary
    assert not summary["evidence"]["supported"]
    assert summary["n_label_issues"] is None and summary["estimated_noise_rate"] is None
    assert summary["noise_rate_per_class"] is None
    assert "min_planted_auc" in " ".join(summary["evidence"]["reasons"])
    assert "curator weights pull" in summary["evidence"]["to_fix"]
    assert summary["n_flagged"] == len(result.flags) > 0  # still a review list
    assert result.flags["detail"].str.contains("weak evidence").all()
    assert result.metrics == {"label_issues": None}  # no count without evidence
    # no probability either: the list is an order, one distinct value per image, no block of 1.0
    table = result.tables["label_issues"]
    assert table["p_label_wrong"].isna().all()
    assert table["review_order"].between(0, 1, inclusive="neither").all()
    assert table["review_order"].is_unique and result.flags["score"].is_unique
    suspect_first = table.sort_values("label_quality")["review_order"]
    assert suspect_first.is_monotonic_decreasing
    planted = summary["evidence"]["planted"]  # what the list is worth, measured
    assert 0 <= planted["flagged_share_planted"] <= 1 and 0 < planted["share_of_images"] < 1
    assert 0 <= planted["auc_corrected"] <= 1
    # the same weak probabilities given as the user's own: the fix does not ask for them again
    probs = result.tables["pred_probs"]
    again = label_quality.run(
        CheckInputs(manifest=manifest, pred_probs=probs), LabelQualityParams()
    )
    assert not again.summary["evidence"]["supported"]
    assert "--pred-probs" not in again.summary["evidence"]["to_fix"]
    assert again.summary["evidence"]["to_fix"].startswith("these probabilities cannot support")


@pytest.mark.parametrize(
    "filter_by",
    [
        "both",
        "confident_learning",
        "prune_by_noise_rate",
        "prune_by_class",
        "predicted_neq_given",
        "low_normalized_margin",
        "low_self_confidence",
    ],
)
def test_every_cleanlab_filter_is_accepted(filter_by):
    from curator.params import params_from_dict

    params = params_from_dict({"label_quality": {"filter_by": filter_by}}).label_quality
    manifest, embeddings, _ = blobs()
    result = label_quality.run(CheckInputs(manifest=manifest, embeddings=embeddings), params)
    assert {"img3.png", "img70.png", "img150.png"} <= set(result.flags["path"])


def test_noise_rates_follow_the_confident_joint():
    # Perfectly confident probabilities: joint = given x suggested counts / n.
    y = np.array([0, 0, 0, 1, 1, 1])
    probs = np.eye(2)[[0, 0, 1, 1, 1, 1]] * 0.98 + 0.01  # one class-0 image looks like class 1
    rates = label_quality.noise_rates(y, probs, ["a", "b"])
    assert rates["per_class"]["a"] == pytest.approx(1 / 3, abs=1e-6)
    assert rates["per_class"]["b"] == pytest.approx(0.0, abs=1e-6)
    assert rates["overall"] == pytest.approx(1 / 6, abs=1e-6)


def test_user_probabilities_are_aligned_by_path_and_checked():
    manifest, _, y = blobs()
    probs = np.eye(3)[y] * 0.9 + 0.1 / 3
    table = pd.DataFrame(probs, columns=["c0", "c1", "c2"]).assign(path=manifest["path"])
    shuffled = table.sample(frac=1, random_state=0)
    result = label_quality.run(
        CheckInputs(manifest=manifest, pred_probs=shuffled), LabelQualityParams()
    )
    assert result.summary["pred_probs_source"] == "user-supplied"
    assert result.summary["out_of_fold"] is False
    assert set(result.flags["path"]) == {"img3.png", "img70.png", "img150.png"}
    # curator's own format (audits/pred_probs.parquet: p_<label> columns) is accepted as is
    own = result.tables["pred_probs"]
    again = label_quality.run(CheckInputs(manifest=manifest, pred_probs=own), LabelQualityParams())
    assert set(again.flags["path"]) == {"img3.png", "img70.png", "img150.png"}
    negative = table.assign(c0=table["c0"] - 1.0)
    with pytest.raises(DataError, match="must be >= 0"):
        label_quality.run(CheckInputs(manifest=manifest, pred_probs=negative), LabelQualityParams())
    with pytest.raises(DataError, match=r"no column for class\(es\) \['c2'\]"):
        label_quality.run(
            CheckInputs(manifest=manifest, pred_probs=table.drop(columns="c2")),
            LabelQualityParams(),
        )
    with pytest.raises(DataError, match=r"no row \(or a non-numeric value\) for 1 image"):
        label_quality.run(
            CheckInputs(manifest=manifest, pred_probs=table.iloc[1:]), LabelQualityParams()
        )


def test_wrong_label_probability_never_drops_for_a_more_suspect_image():
    from curator.checks.label_evidence import wrong_label_probability

    rng = np.random.default_rng(0)
    scores = rng.random(1000)
    planted = rng.random(50) * 0.3 + 0.05  # none as low as the lowest real scores
    p = wrong_label_probability(scores, planted, eta=0.1)
    order = np.argsort(scores)
    assert np.all(np.diff(p[order]) <= 1e-12)  # non-increasing as the score rises
    assert p[order[0]] > 0 and p.max() <= 1
    flagged = p[order[:100]]  # the 100 most suspect: ordered, without a block of ties
    assert len(np.unique(flagged)) == 100
    # where planted errors sit 1-in-2 against everyone, the share is eta * F_p / F_all
    assert p[order[-1]] == pytest.approx(0.1)


def test_noise_upper_bound_is_the_smallest_ratio_worked_by_hand():
    """Planted scores 0.00..0.99 put the thresholds (their 10/25/50% quantiles) at 0.099,
    0.2475 and 0.495, below which lie 10%, 25% and 50% of them. Of all images 3%, 5% and 20%
    lie below those thresholds: ratios 0.3, 0.2 and 0.4, so the bound is the smallest, 0.2."""
    from curator.checks.label_evidence import noise_upper_bound

    planted = np.arange(100) / 100
    every = np.r_[np.full(3, 0.05), np.full(2, 0.2), np.full(15, 0.3), np.full(80, 0.9)]
    assert noise_upper_bound(every, planted) == pytest.approx(0.2)
    # every image as suspect as the most suspect planted error: ratios 10, 4, 2, capped at 1
    assert noise_upper_bound(np.zeros(100), planted) == 1.0


@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_an_infinite_probability_is_one_line_naming_the_file_and_row(value, tmp_path):
    from curator.io.sources import read_table

    manifest, _, y = blobs()
    probs = np.eye(3)[y] * 0.9 + 0.1 / 3
    table = pd.DataFrame(probs, columns=["c0", "c1", "c2"]).assign(path=manifest["path"])
    table.loc[7, "c1"] = float(value)
    path = tmp_path / "probs.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        label_quality.run(
            CheckInputs(manifest=manifest, pred_probs=read_table(path, "probs")),
            LabelQualityParams(),
        )
    assert str(caught.value) == (
        f"{path} row {manifest['path'][7]}: a probability is infinite; give finite numbers >= 0 "
        "(probabilities, or a softmax of the logits)."
    )


def test_one_class_or_one_distinct_image_per_class_is_not_judged_and_says_why():
    manifest, embeddings, _ = blobs()
    result = label_quality.run(
        CheckInputs(manifest=manifest.assign(label="c0"), embeddings=embeddings),
        LabelQualityParams(),
    )
    assert result.flags.empty and result.summary["evidence"]["measured"] is False
    assert result.summary["evidence"]["reasons"] == [
        "every image has the same label 'c0': there is no other label to tell it from"
    ]
    # class c2's images all share one content: no fold can hold it out and still train on it
    same = manifest.assign(
        sample_id=np.where(manifest["label"] == "c2", "f" * 64, manifest["sample_id"])
    )
    result = label_quality.run(
        CheckInputs(manifest=same, embeddings=embeddings), LabelQualityParams()
    )
    assert result.summary["n_label_issues"] is None
    assert result.summary["evidence"]["reasons"][0].startswith(
        "class 'c2' has a single distinct image (exact copies count once)"
    )


def margin_case(n_votes_apart=100):
    """Three classes. 300 images the model is sure of; 300 it finds uniform (0.34 on the given
    label, 0.33 on each other); and ``n_votes_apart`` of the sure ones where a third annotator
    chose another class, which the model gives 0.36 (0.62 to the given label). Given that vote
    as the label, such an image scores 0.36 by self_confidence, above the uniform images'
    0.34, but -0.26 by normalized_margin, far below their 0.01: the margin finds them."""
    n = 600
    y = np.zeros(n, np.int64)
    probs = np.tile([0.9, 0.05, 0.05], (n, 1))
    probs[300:] = [0.34, 0.33, 0.33]
    apart = np.arange(n_votes_apart)
    probs[apart] = [0.62, 0.36, 0.02]
    votes = [np.array([0, 0, 1]) if k < n_votes_apart else np.array([0, 0, 0]) for k in range(n)]
    return y, probs, votes


def test_the_ranking_is_the_one_that_best_finds_the_annotators_disagreements():
    from sklearn.metrics import average_precision_score

    from curator.checks.label_evidence import choose_ranking

    y, probs, votes = margin_case()
    chosen = choose_ranking(y, probs, votes)
    assert chosen["method"] == "normalized_margin" and chosen["n_planted"] == 100
    assert chosen["chosen_by"] == "annotator disagreements planted as errors"
    ap = chosen["average_precision"]
    assert ap["normalized_margin"] == max(ap.values()) > 0.99 > 0.5 > ap["self_confidence"]
    # what it measured is the planted images' average precision, recomputed here
    truth = np.arange(len(y)) < 100
    planted = y.copy()
    planted[truth] = 1
    margin = probs[np.arange(len(y)), planted] - np.where(
        np.eye(3, dtype=bool)[planted], -1, probs
    ).max(axis=1)
    assert ap["normalized_margin"] == pytest.approx(average_precision_score(truth, -margin))


def test_without_enough_disagreements_the_ranking_is_the_default_and_says_why():
    from curator.checks.label_evidence import MIN_VOTE_PLANTED, choose_ranking

    y, probs, votes = margin_case(n_votes_apart=MIN_VOTE_PLANTED - 1)
    chosen = choose_ranking(y, probs, votes)
    assert chosen["method"] == "self_confidence" and chosen["chosen_by"] == "default"
    assert f"{MIN_VOTE_PLANTED - 1} images where an annotator disagreed" in chosen["why"]
    assert choose_ranking(y, probs, None)["method"] == "self_confidence"


def test_the_stage_ranks_by_the_chosen_method_and_records_it():
    y, probs, votes = margin_case()
    paths = [f"img{k}.png" for k in range(len(y))]
    manifest = pd.DataFrame(
        {
            "sample_id": [f"{k:064x}" for k in range(len(y))],
            "path": paths,
            "split": "train",
            "label": [f"c{g}" for g in y],
            "readable": True,
        }
    )
    manifest.loc[600 - 3 :, "label"] = ["c1", "c2", "c1"]  # every class has a given label
    given = manifest["label"].str[1].astype(int).to_numpy()
    user = pd.DataFrame({"path": paths, **{f"c{k}": probs[:, k] for k in range(3)}})
    annotations = pd.DataFrame(
        [
            {"path": p, "annotator": f"a{j}", "label": f"c{v}"}
            for p, vs in zip(paths, votes, strict=True)
            for j, v in enumerate(vs)
        ]
    )
    inputs = CheckInputs(manifest=manifest, pred_probs=user, annotations=annotations)
    result = label_quality.run(inputs, LabelQualityParams())
    assert result.summary["ranking"]["method"] == "normalized_margin"
    from cleanlab.rank import get_label_quality_scores

    expected = get_label_quality_scores(given, probs, method="normalized_margin")
    got = result.tables["label_issues"]["label_quality"].to_numpy()
    assert np.allclose(got, expected)
    fixed = label_quality.run(inputs, LabelQualityParams(ranked_by="self_confidence"))
    assert fixed.summary["ranking"] == {
        "method": "self_confidence",
        "chosen_by": "label_quality.ranked_by",
    }
