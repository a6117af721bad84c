import json

from curator import artifacts
from curator.summary import describe_agreement, render_summary


def test_agreement_sentence_without_bootstrap_interval():
    # n_bootstrap: 0 leaves the interval empty; the sentence must still be written, not crash
    a = {
        "n_votes": 30,
        "n_items": 10,
        "n_annotators": 3,
        "unreliable_annotators": [],
        "n_given_label_differs_from_consensus": 1,
        "krippendorff_alpha": {"value": 0.5, "ci": [None, None], "n_items": 10},
        "aggregation": {"chosen": "class_confusion", "temperature": 0.9, "image_weight": 0.5},
    }
    assert describe_agreement(a) == (
        "Krippendorff alpha 0.500 (no interval) over 10 items from 3 annotators; unreliable: "
        "none; consensus by class confusion (temperature 0.9, image evidence weight 0.5); "
        "1 labels differ from the consensus"
    )
    assert describe_agreement({"n_votes": 0}) == "no annotations, nothing measured"


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
