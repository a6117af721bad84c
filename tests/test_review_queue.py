import pandas as pd
import pytest

from curator.review_queue import build_review_queue


def test_noisy_or_ranking_by_hand():
    issues = pd.DataFrame(
        [
            ("a", "x.png", "label_issue", 0.6, "cleanlab"),
            ("a", "x.png", "label_differs_from_consensus", 0.5, "votes"),  # 1 - .4*.5 = 0.8
            ("b", "y.png", "label_issue", 0.7, "cleanlab"),  # 0.7
            ("c", "z.png", "duplicate_label_conflict", 1.0, "twin says 3"),  # 1.0
            ("d", "w.png", "leak", 1.0, "not a label signal"),
        ],
        columns=["sample_id", "path", "issue", "score", "detail"],
    )
    queue = build_review_queue(issues)
    assert queue["path"].tolist() == ["z.png", "x.png", "y.png"]
    assert queue["priority"].tolist() == pytest.approx([1.0, 0.8, 0.7])
    assert queue["rank"].tolist() == [1, 2, 3]
    assert queue.loc[1, "signals"] == "label_differs_from_consensus, label_issue"
    assert queue.loc[1, "reasons"] == "votes | cleanlab"


def test_no_signals_gives_an_empty_queue():
    assert build_review_queue(
        pd.DataFrame(columns=["sample_id", "path", "issue", "score", "detail"])
    ).empty
