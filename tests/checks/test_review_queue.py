import pandas as pd
import pytest

from curator.checks.review_queue import build_review_queue


def test_independent_sources_combine_and_one_source_counts_once():
    issues = pd.DataFrame(
        [
            ("a", "x.png", "label_issue", 0.6, "cleanlab"),
            ("a", "x.png", "label_differs_from_consensus", 0.5, "votes"),  # 1 - .4*.5 = 0.8
            ("b", "y.png", "label_issue", 0.7, "cleanlab"),  # 0.7
            ("c", "z.png", "duplicate_label_conflict", 0.5, "twin says 3"),
            ("c", "z.png", "label_issue", 0.5, "cleanlab"),  # two sources at 0.5: 0.75
            # two signals from the same votes are one source: the stronger, 0.65
            ("e", "v.png", "label_differs_from_consensus", 0.65, "votes"),
            ("e", "v.png", "low_agreement", 0.6, "votes disagree"),
            ("d", "w.png", "leak", 1.0, "not a label signal"),
        ],
        columns=["sample_id", "path", "issue", "score", "detail"],
    )
    queue = build_review_queue(issues)
    assert queue["path"].tolist() == ["x.png", "z.png", "y.png", "v.png"]
    assert queue["priority"].tolist() == pytest.approx([0.8, 0.75, 0.7, 0.65])
    assert queue["rank"].tolist() == [1, 2, 3, 4]
    assert queue["n_sources"].tolist() == [2, 2, 1, 1]
    assert queue.loc[0, "signals"] == "label_differs_from_consensus, label_issue"
    assert queue.loc[0, "reasons"] == "votes | cleanlab"


def test_no_signals_gives_an_empty_queue():
    assert build_review_queue(
        pd.DataFrame(columns=["sample_id", "path", "issue", "score", "detail"])
    ).empty


def test_a_model_order_is_not_added_up_as_a_probability():
    """When the model's evidence check failed, its scores are places in its ranking: a row's
    priority comes from the other sources only, and images only the model flags follow, in
    the model's order, with no priority."""
    issues = pd.DataFrame(
        [
            ("a", "x.png", "label_issue", 0.9, "cleanlab, an order"),
            ("a", "x.png", "label_differs_from_consensus", 0.5, "votes"),
            ("b", "y.png", "label_issue", 0.99, "cleanlab, an order"),
            ("c", "z.png", "label_issue", 0.4, "cleanlab, an order"),
            ("d", "w.png", "duplicate_label_conflict", 0.3, "twin says 3"),
        ],
        columns=["sample_id", "path", "issue", "score", "detail"],
    )
    queue = build_review_queue(issues, model_is_probability=False)
    assert queue["path"].tolist() == ["x.png", "w.png", "y.png", "z.png"]
    assert queue["priority"].tolist()[:2] == pytest.approx([0.5, 0.3])  # not 1 - .1 * .5
    assert queue["priority"].isna().tolist() == [False, False, True, True]
    assert queue["priority_is_probability"].tolist() == [True, True, False, False]
    assert queue["model_order"].tolist()[2:] == pytest.approx([0.99, 0.4])
    assert queue["n_sources"].tolist() == [2, 1, 1, 1]
    # with supported evidence the same scores are probabilities and combine
    supported = build_review_queue(issues)
    assert supported.set_index("path")["priority"]["x.png"] == pytest.approx(1 - 0.1 * 0.5)
    assert supported["priority_is_probability"].all() and supported["model_order"].isna().all()


def test_the_issues_stage_reads_whether_the_model_scores_are_probabilities(tmp_path):
    import json

    from curator.stages import issues as stage

    findings = tmp_path / "label_quality.parquet"
    pd.DataFrame(
        [("b", "y.png", "label_issue", 0.99, "an order"), ("a", "x.png", "label_issue", 0.4, "")],
        columns=["sample_id", "path", "issue", "score", "detail"],
    ).to_parquet(findings)
    evidence = tmp_path / "label_quality.json"
    for supported in (False, True):
        evidence.write_text(json.dumps({"evidence": {"supported": supported}}))
        stage.run([findings], tmp_path / "issues.parquet", tmp_path / "queue.parquet", evidence)
        queue = pd.read_parquet(tmp_path / "queue.parquet")
        assert queue["path"].tolist() == ["y.png", "x.png"]
        assert queue["priority_is_probability"].tolist() == [supported, supported]


def test_a_reviewed_image_stays_out_until_new_evidence_appears():
    """x.png was confirmed after its model signal and its twin y.png were seen: it stays out
    of the queue on the same evidence, and comes back with a new twin or a new model."""
    cluster = "label '3', but copies of this image disagree on label (cluster 4: {})"
    seen = "x.png: 3; y.png: 5"
    issues = pd.DataFrame(
        [
            ("a", "x.png", "label_issue", 0.6, "cleanlab"),
            ("a", "x.png", "duplicate_label_conflict", 0.5, cluster.format(seen)),
            ("b", "w.png", "label_issue", 0.7, "cleanlab"),
        ],
        columns=["sample_id", "path", "issue", "score", "detail"],
    )
    reviewed = {"x.png": "label_issue@cnn;twin:y.png"}
    queue = build_review_queue(issues, model="cnn")
    assert queue.set_index("path").loc["x.png", "evidence"] == "label_issue@cnn;twin:y.png"
    assert build_review_queue(issues, model="cnn", reviewed=reviewed)["path"].tolist() == ["w.png"]
    # a new model's probabilities are new evidence
    assert "x.png" in build_review_queue(issues, model="user", reviewed=reviewed)["path"].tolist()
    # so is a new twin
    grown = issues.assign(detail=issues["detail"].str.replace(seen, seen + "; z.png: 5"))
    requeued = build_review_queue(grown, model="cnn", reviewed=reviewed).set_index("path")
    assert requeued.loc["x.png", "evidence"] == "label_issue@cnn;twin:y.png;twin:z.png"


def test_a_reviewers_own_vote_is_not_new_evidence_but_more_annotators_are():
    """x.png had 3 annotators' votes when its task (showing their consensus) was confirmed;
    the reviewer's answer, a fourth vote, now makes the votes disagree. That is the reviewer's
    own answer, not new evidence: x.png stays out. A fourth annotator's vote brings it back."""
    issues = pd.DataFrame(
        [
            ("a", "x.png", "label_issue", 0.6, "cleanlab"),
            ("a", "x.png", "low_agreement", 0.55, "votes disagree"),
            ("b", "w.png", "low_agreement", 0.7, "votes disagree"),
        ],
        columns=["sample_id", "path", "issue", "score", "detail"],
    )
    reviewed = {"x.png": "label_issue@cnn;votes:3"}
    same = build_review_queue(issues, model="cnn", reviewed=reviewed, votes={"x.png": 3})
    assert same["path"].tolist() == ["w.png"]
    assert same.loc[0, "evidence"] == "votes:0"
    more = build_review_queue(issues, model="cnn", reviewed=reviewed, votes={"x.png": 4})
    assert more.set_index("path").loc["x.png", "evidence"] == "label_issue@cnn;votes:4"
    # an answer recorded before votes were counted saw the votes, however many
    legacy = {"x.png": "label_issue@cnn;votes"}
    kept = build_review_queue(issues, model="cnn", reviewed=legacy, votes={"x.png": 9})
    assert kept["path"].tolist() == ["w.png"]
    # a review on the model's evidence alone that saw no votes: the first votes are new
    alone = {"x.png": "label_issue@cnn"}
    assert "x.png" in build_review_queue(issues, model="cnn", reviewed=alone)["path"].tolist()
