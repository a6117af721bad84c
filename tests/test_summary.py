from curator.summary import describe_agreement


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
