"""The corrections table: validation that names the line and the fix, merging that never adds
an answer twice, and applying it to the manifest (worked by hand on a five-image manifest)."""

from __future__ import annotations

import pandas as pd
import pytest

from curator.errors import DataError
from curator.review import corrections

A, B, C, D, E = (f"{k:064x}" for k in range(1, 6))


def manifest() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": ["a.png", "b.png", "c.png", "d.png", "e.png"],
            "sample_id": [A, B, C, D, E],
            "label": ["cat", "cat", "dog", "dog", "cat"],
            "split": "train",
        }
    )


def votes() -> pd.DataFrame:
    return pd.DataFrame(
        {"sample_id": [A], "path": ["a.png"], "annotator": ["ann-1"], "label": ["cat"]},
        dtype="string",
    )


def answer(path, sample_id, old, verdict, new="", reviewer="ann", at="2026-12-07T10:00:00Z"):
    return {
        "path": path,
        "sample_id": sample_id,
        "old_label": old,
        "verdict": verdict,
        "new_label": new,
        "reviewer": reviewer,
        "reviewed_at": at,
        "task": f"round-1.csv#{path}",
        "drawn": "queue",
        "evidence": "label_issue@model",
        "reasons": "flagged",
    }


def table(*rows) -> pd.DataFrame:
    return corrections.validate(pd.DataFrame(list(rows)), {"cat", "dog"}, "corrections.csv")


def test_a_typo_names_its_line_and_the_fix_and_nothing_is_applied():
    rows = [
        answer("a.png", A, "cat", "relabel", "dog"),
        answer("b.png", B, "cat", "confrimed"),
        answer("c.png", C, "dog", "relabel", "cta"),
        answer("d.png", D, "dog", "confirmed", "cat"),
        answer("e.png", "e" * 12, "cat", "confirmed", at="yesterday"),
    ]
    with pytest.raises(DataError) as err:
        table(*rows)
    text = str(err.value)
    assert "corrections.csv line 3: verdict 'confrimed' is not one of relabel, confirmed" in text
    assert "line 4: new_label 'cta' is not a class of this dataset (cat, dog)" in text
    assert "line 5: verdict confirmed but new_label 'cat' differs from old_label 'dog'" in text
    assert "line 6: sample_id 'eeeeeeeeeeee' is not the SHA-256" in text
    assert "line 6: reviewed_at 'yesterday' is not an ISO 8601 time" in text
    assert text.endswith("Nothing was applied.")
    assert "line 2" not in text  # the good row is not blamed


def test_a_repeated_answer_and_a_missing_column_are_refused():
    row = answer("a.png", A, "cat", "relabel", "dog")
    with pytest.raises(DataError, match="line 3: repeats line 2; delete one of them"):
        table(row, row)
    with pytest.raises(DataError, match=r"missing column\(s\) reviewer; the header must be"):
        corrections.validate(
            pd.DataFrame([row]).drop(columns="reviewer"), {"cat", "dog"}, "corrections.csv"
        )


def test_merging_the_same_answers_twice_adds_them_once_and_keeps_the_order():
    first = table(
        answer("a.png", A, "cat", "relabel", "dog"), answer("b.png", B, "cat", "confirmed")
    )
    merged, added, already = corrections.merge(corrections.empty(), first)
    assert (added, already) == (2, 0)
    later = table(
        answer("c.png", C, "dog", "confirmed"), answer("a.png", A, "cat", "relabel", "dog")
    )
    again, added, already = corrections.merge(merged, later)
    assert (added, already) == (1, 1)
    assert again["path"].tolist() == ["a.png", "b.png", "c.png"]
    # the same answer reported again with a newer time (the app's samples change when the
    # audit is re-synced) adds nothing; a changed mind is a new answer
    repeated = answer("a.png", A, "cat", "relabel", "dog", at="2026-12-08T09:00:00Z")
    changed = answer("b.png", B, "cat", "relabel", "dog", at="2026-12-08T09:00:00Z")
    last, added, already = corrections.merge(again, table(repeated, changed))
    assert (added, already) == (1, 1)
    assert last.iloc[-1][["path", "verdict"]].tolist() == ["b.png", "relabel"]
    back = answer("b.png", B, "cat", "confirmed", at="2026-12-09T09:00:00Z")
    assert corrections.merge(last, table(back))[1] == 1  # back to the first answer: news too


def test_applying_relabels_confirms_and_keeps_the_given_label_beside_it():
    done = corrections.apply(
        manifest(),
        votes(),
        table(answer("a.png", A, "cat", "relabel", "dog"), answer("b.png", B, "cat", "confirmed")),
    )
    m = done.manifest.set_index("path")
    assert m.loc["a.png", ["label", "original_label", "label_source", "review"]].tolist() == [
        "dog",
        "cat",
        "review",
        "relabelled",
    ]
    assert m.loc["b.png", ["label", "label_source", "review"]].tolist() == [
        "cat",
        "given",
        "confirmed",
    ]
    assert m.loc["c.png", ["label", "original_label", "review"]].tolist() == ["dog", "dog", ""]
    assert m.loc["a.png", "review_evidence"] == "label_issue@model"
    assert done.findings == []
    # every counted answer is its reviewer's vote
    reviewer_votes = done.annotations[done.annotations["annotator"] == "reviewer:ann"]
    assert sorted(zip(reviewer_votes["path"], reviewer_votes["label"], strict=True)) == [
        ("a.png", "dog"),
        ("b.png", "cat"),
    ]
    assert done.facts["n_relabelled"] == 1 and done.facts["n_confirmed"] == 1


def test_reviewers_who_disagree_make_a_finding_and_leave_the_given_label():
    done = corrections.apply(
        manifest(),
        votes(),
        table(
            answer("a.png", A, "cat", "relabel", "dog", reviewer="ann"),
            answer("a.png", A, "cat", "confirmed", reviewer="bob"),
        ),
    )
    row = done.manifest.set_index("path").loc["a.png"]
    assert (row["label"], row["review"]) == ("cat", "conflict")
    (finding,) = done.findings
    assert finding["issue"] == "review_conflict" and finding["path"] == "a.png"
    assert "ann says 'dog'" in finding["detail"] and "bob says 'cat'" in finding["detail"]


def test_a_reviewers_latest_answer_counts_and_a_second_round_builds_on_the_first():
    done = corrections.apply(
        manifest(),
        votes(),
        table(
            answer("a.png", A, "cat", "relabel", "dog", at="2026-12-07T10:00:00Z"),
            answer("a.png", A, "cat", "confirmed", at="2026-12-07T11:00:00Z"),  # changed mind
            answer("c.png", C, "dog", "relabel", "cat", reviewer="ann"),
            # round 2: bob saw c.png already relabelled to cat, and confirms it
            answer("c.png", C, "cat", "confirmed", reviewer="bob", at="2026-12-08T09:00:00Z"),
        ),
    )
    m = done.manifest.set_index("path")
    assert m.loc["a.png", ["label", "review"]].tolist() == ["cat", "confirmed"]
    assert m.loc["c.png", ["label", "review"]].tolist() == ["cat", "relabelled"]
    assert done.findings == []


def test_an_answer_about_other_bytes_or_another_given_label_is_stale():
    done = corrections.apply(
        manifest(),
        votes(),
        table(
            answer("a.png", E, "cat", "relabel", "dog"),  # a.png's bytes are A now
            answer("b.png", B, "dog", "confirmed"),  # b.png is labelled cat now
            answer("gone.png", C, "dog", "confirmed"),  # no longer in the data
        ),
    )
    m = done.manifest.set_index("path")
    assert m.loc["a.png", ["label", "review"]].tolist() == ["cat", "stale"]
    assert m.loc["b.png", ["label", "review"]].tolist() == ["cat", "stale"]
    details = {f["path"]: f["detail"] for f in done.findings}
    assert {f["issue"] for f in done.findings} == {"stale_correction"}
    assert "the file changed after ann reviewed it" in details["a.png"]
    assert (
        "reviewed it as 'dog' in task round-1.csv#b.png; the data now labels it 'cat'"
        in (details["b.png"])
    )
    assert done.facts["answers_for_missing_images"] == ["gone.png"]
    assert len(done.annotations) == 1  # stale answers are not votes


def test_the_demos_corrections_file_is_empty_with_the_schemas_header():
    """dvc.yaml's ingest reads it: a stale header would stop `make audit`."""
    from tests.conftest import REPO

    assert (REPO / "corrections.csv").read_text() == ",".join(corrections.COLUMNS) + "\n"
