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
