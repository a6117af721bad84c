import json
import shutil

import pandas as pd

from curator import artifacts
from curator.reporting.summary import describe_agreement, describe_duplicates, render_summary


def test_agreement_sentence_without_bootstrap_interval():
    # n_bootstrap: 0 leaves the interval empty; the sentence must still be written, not crash
    a = {
        "n_votes": 30,
        "n_items": 10,
        "n_annotators": 3,
        "unreliable_annotators": [],
        "n_annotators_judged": 2,
        "min_annotator_votes": 10,
        "n_given_label_differs_from_consensus": 1,
        "krippendorff_alpha": {"value": 0.5, "ci": [None, None], "n_items": 10},
        "aggregation": {"chosen": "class_confusion", "temperature": 0.9, "image_weight": 0.5},
    }
    assert describe_agreement(a) == (
        "Krippendorff alpha 0.500 (no interval) over 10 items from 3 annotators; unreliable: "
        "none (of 2 with at least 10 votes); consensus by class confusion (temperature 0.9, "
        "image evidence weight 0.5); 1 labels differ from the consensus"
    )
    assert describe_agreement({"n_votes": 0}) == "no annotations, nothing measured"


def test_no_annotator_judged_is_not_called_reliable():
    """248 annotators with 25 votes each, under the 30 needed: 'unreliable: none' would
    contradict that none was judged."""
    from curator.reporting.summary import describe_reliability

    a = {"unreliable_annotators": [], "n_annotators_judged": 0, "min_annotator_votes": 30}
    assert describe_reliability(a) == (
        "reliability not judged: every annotator has fewer than 30 votes "
        "(agreement.min_annotator_votes)"
    )


def test_summary_says_whether_the_splits_are_drawn_alike_and_what_the_galleries_hold(audited_demo):
    _, audits, _ = audited_demo
    text = render_summary(audits)
    shift = json.loads((audits / artifacts.SHIFT_SUMMARY).read_text())
    test = shift["embedding"]["test"]
    verdict = "shifted" if test["shifted"] else "drawn like train"
    assert f"Shift: test vs train domain AUC {test['auc']:.3f}" in text and verdict in text
    assert f"val vs train domain AUC {shift['embedding']['val']['auc']:.3f}" in text
    errors = json.loads((audits / artifacts.ERRORS_SUMMARY).read_text())
    assert f"Errors: {errors['n_errors']} test images misclassified" in text


def test_duplicates_sentence_gives_the_copies_found_and_the_estimated_precision():
    d = {
        "n_pairs": 3,
        "n_clusters": 2,
        "n_removable": 2,
        "leakage": {"train": {"leaked": 0, "n": 10, "leaked_pct": 0.0}},
        "calibration": {"n_copies": 500, "recall": 0.852, "precision": 0.9958},
        "max_distance_ratio": 0.4,
    }
    assert describe_duplicates(d).endswith(
        "the near-duplicate rule at distance ratio 0.40 finds 85% of the edited copies it made "
        "of 500 of your images (copies people make are often harder), and an estimated 99.6% of "
        "its pairs are right"
    )
    d["calibration"]["precision"] = None  # too few images to fit the null model
    assert describe_duplicates(d).endswith("your images (copies people make are often harder)")


def test_summary_opens_with_what_to_fix_first_and_lists_files_only_when_asked(audited_demo):
    from curator.reporting.summary import load_present
    from curator.reporting.triage import triage

    _, audits, _ = audited_demo
    text = render_summary(audits)
    lines = text.splitlines()
    assert lines[2] == "What to fix first:"
    found = triage(load_present(audits))
    assert found and found[0]["key"].startswith("leak:")  # the demo plants leaks into test
    severities = [f["severity"] for f in found]
    assert severities == sorted(severities, key=("high", "medium", "low").index)
    for k, f in enumerate(found, 1):
        assert f"{k:>4}. {f['severity']:<6} " in text and f["what"] in text
    assert "Outputs:" not in text and text.endswith("Every output file: curator summary --files")
    assert len(lines) < 45
    listed = render_summary(audits, files=True)
    assert f"  {audits / artifacts.MANIFEST}" in listed.splitlines()


def test_triage_orders_leaks_before_labels_before_fairness_before_conditions():
    from curator.reporting.triage import triage

    docs = {
        artifacts.PROPERTIES_SUMMARY: {"flagged": {"dark": 4}},
        artifacts.DUPLICATES_SUMMARY: {
            "leakage": {"test": {"leaked_from_train": 7}, "train": {"leaked_from_train": 0}},
            "n_label_conflict_clusters": 2,
        },
        artifacts.SHIFT_SUMMARY: {
            "embedding": {"test": {"shifted": True, "n": 50, "auc": 0.61, "p_value": 0.002}}
        },
    }
    found = triage(docs)
    assert [f["key"] for f in found] == [
        "leak:test",
        "duplicate_label_conflict",
        "shift:test",
        "dark",
    ]
    assert [f["count"] for f in found] == [7, 2, 50, 4]
    assert found[0]["source"] == (
        artifacts.DUPLICATES_SUMMARY,
        ["leakage", "test", "leaked_from_train"],
    )
    assert triage({}) == []


def test_a_queue_shorter_than_the_bands_rate_is_said_to_be(audited_demo, demo_data, tmp_path):
    """After a round the re-ranked queue may hold fewer images than the band's rate is per
    ('would fix about 37 in 50'), which must not stand alone then (summary and audit page)."""
    from curator.stages import report

    params, source, _ = audited_demo
    audits = tmp_path / "audits"
    shutil.copytree(source, audits)
    ingest = json.loads((audits / artifacts.INGEST_SUMMARY).read_text())
    band = {
        "measured": True,
        "round": "round-1.csv",
        "n": 68,
        "wrong": 50,
        "next": 50,
        "share_wrong_ci": [0.62, 0.83],
        "would_fix": 36.8,
        "would_fix_ci": [31.1, 41.4],
        "per_band": [[50, 68]],
    }
    ingest["corrections"] = ingest.get("corrections", {}) | {
        "n_answers": 68,
        "n_relabelled": 50,
        "n_confirmed": 18,
        "n_conflict": 0,
        "n_stale": 0,
        "file": "corrections.csv",
        "next_queue_band": band,
        "level": 0.95,
    }
    (audits / artifacts.INGEST_SUMMARY).write_text(json.dumps(ingest))
    queue = pd.read_parquet(audits / artifacts.REVIEW_QUEUE)
    assert len(queue) >= 50
    assert "Review queue: now" not in render_summary(audits)
    queue.head(2).to_parquet(audits / artifacts.REVIEW_QUEUE, index=False)
    text = render_summary(audits)
    assert "would fix about 37 in 50" in text
    assert (
        "  Review queue: now 2 image(s), fewer than the 50 that rate is per: at most 2 more "
        "fix(es) can come from it" in text.splitlines()
    )
    report.run(params, demo_data[0], audits, tmp_path / "reports")
    page = (tmp_path / "reports" / "dataset_audit.html").read_text()
    assert "<strong>The queue now holds only 2 image(s)</strong>" in page
