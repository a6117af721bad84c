"""Agreement statistics against hand-worked values, scikit-learn and a simulation."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from curator.checks import CheckInputs, agreement
from curator.params import AgreementParams

# Wikipedia's worked example for Fleiss' kappa: 10 items, 14 raters, 5 categories.
# P-bar = 0.378, P_e = 0.213, kappa = 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_worked_example():
    assert agreement.fleiss_kappa(np.array(FLEISS_TABLE))[0] == pytest.approx(0.210, abs=5e-4)


def test_two_coders_by_hand():
    # coder 1: a a b b ; coder 2: a b b b
    # Krippendorff (nominal): o_aa=2, o_ab=o_ba=1, o_bb=4, n=8, n_a=3, n_b=5
    #   D_o = 2/8 = 0.25 ; D_e = 2*3*5/(8*7) = 0.535714 ; alpha = 1 - D_o/D_e = 0.533333
    # Fleiss with two raters = Scott's pi: p_o = 0.75, p_e = (3/8)^2 + (5/8)^2 = 0.53125,
    #   pi = 0.21875 / 0.46875 = 0.466667
    # Cohen: p_e = .5*.25 + .5*.75 = 0.5, kappa = (0.75 - 0.5) / 0.5 = 0.5
    counts = np.array([[2, 0], [1, 1], [0, 2], [0, 2]])
    assert agreement.nominal_alpha(counts)[0] == pytest.approx(0.533333, abs=1e-6)
    assert agreement.fleiss_kappa(counts)[0] == pytest.approx(0.466667, abs=1e-6)
    x, y = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    assert agreement.cohen_kappa(x, y, 2)[0] == pytest.approx(0.5)
    assert cohen_kappa_score(x, y) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_and_kappa_match_the_reference_packages(seed):
    import krippendorff

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 150)
    matrix = np.where(rng.random((5, 150)) < 0.7, truth, rng.integers(0, 4, (5, 150))).astype(float)
    matrix[rng.random((5, 150)) < 0.4] = np.nan  # raters skip items; some items get < 2 votes
    counts = np.stack([(matrix == k).sum(axis=0) for k in range(4)], axis=1)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert agreement.nominal_alpha(counts)[0] == pytest.approx(expected, abs=1e-9)
    shared = ~np.isnan(matrix[0]) & ~np.isnan(matrix[1])
    x, y = matrix[0, shared].astype(int), matrix[1, shared].astype(int)
    assert agreement.cohen_kappa(x, y, 4)[0] == pytest.approx(cohen_kappa_score(x, y))


def test_bootstrap_reweighting_equals_resampling():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 3, (40, 3))
    idx = rng.integers(0, 40, 40)
    weights = np.bincount(idx, minlength=40)[None, :]
    assert agreement.nominal_alpha(counts, weights)[0] == pytest.approx(
        agreement.nominal_alpha(counts[idx])[0]
    )
    assert agreement.fleiss_kappa(counts, weights)[0] == pytest.approx(
        agreement.fleiss_kappa(counts[idx])[0]
    )


def simulated_votes(n_items=600, accuracies=(0.95, 0.85, 0.75, 0.2), per_item=3, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n_items)
    rows = []
    for i in range(n_items):
        for a in rng.choice(len(accuracies), per_item, replace=False):
            right = rng.random() < accuracies[a]
            label = truth[i] if right else rng.choice([c for c in range(4) if c != truth[i]])
            rows.append(
                {
                    "sample_id": f"{i:064x}",
                    "path": f"img{i}.png",
                    "annotator": f"ann{a}",
                    "label": str(label),
                }
            )
    votes = pd.DataFrame(rows)
    manifest = pd.DataFrame(
        {
            "sample_id": [f"{i:064x}" for i in range(n_items)],
            "path": [f"img{i}.png" for i in range(n_items)],
            "label": truth.astype(str),
            "split": "train",
            "readable": True,
            "site": np.where(np.arange(n_items) % 5, "A", "B"),
        }
    )
    realized = votes.assign(ok=votes["label"] == truth[votes.index // per_item].astype(str))
    return manifest, votes, realized.groupby("annotator")["ok"].mean(), truth


def test_dawid_skene_recovers_annotator_accuracy_and_beats_majority():
    manifest, votes, realized, truth = simulated_votes()
    params = AgreementParams(subgroups=("site",), n_bootstrap=50)
    result = agreement.run(CheckInputs(manifest=manifest, annotations=votes), params)
    table = result.tables["annotators"].set_index("annotator")
    diff = (table["estimated_accuracy"] - realized).abs()
    assert diff.max() < 0.05, diff
    assert result.summary["unreliable_annotators"] == ["ann3"]
    consensus = result.tables["consensus"]
    consensus_acc = (consensus["consensus_label"] == truth.astype(str)).mean()
    majority_acc = (consensus["majority_label"] == truth.astype(str)).mean()  # ties count wrong
    assert consensus_acc > majority_acc
    # the summary's statistics are the independently tested functions, with intervals around them
    for key in ("fleiss_kappa", "krippendorff_alpha"):
        lo, hi = result.summary[key]["ci"]
        assert lo <= result.summary[key]["value"] <= hi
    assert set(result.summary["alpha_per_subgroup"]["site"]) == {"A", "B"}
    pair = next(
        p for p in result.summary["cohen_kappa_pairs"] if p["annotators"] == ["ann0", "ann1"]
    )
    wide = votes.pivot(index="sample_id", columns="annotator", values="label").dropna(
        subset=["ann0", "ann1"]
    )
    assert pair["value"] == pytest.approx(cohen_kappa_score(wide["ann0"], wide["ann1"]))


def test_given_label_against_consensus_is_flagged():
    manifest, votes, _, truth = simulated_votes(n_items=200)
    manifest.loc[0, "label"] = str((truth[0] + 1) % 4)  # a label flip
    result = agreement.run(
        CheckInputs(manifest=manifest, annotations=votes), AgreementParams(n_bootstrap=0)
    )
    flagged = result.flags[result.flags["issue"] == "label_differs_from_consensus"]
    assert "img0.png" in set(flagged["path"])
    assert result.summary["fleiss_kappa"]["ci"] == [None, None]  # no bootstrap asked for


def test_no_annotations_measures_nothing():
    manifest, _, _, _ = simulated_votes(n_items=5)
    result = agreement.run(
        CheckInputs(
            manifest=manifest,
            annotations=pd.DataFrame(columns=["sample_id", "path", "annotator", "label"]),
        ),
        AgreementParams(),
    )
    assert result.summary["n_votes"] == 0 and result.flags.empty
    # empty, but with their columns: evaluate and the app read them by name
    assert {"path", "consensus_label"} <= set(result.tables["consensus"].columns)
    assert "estimated_accuracy" in result.tables["annotators"].columns


def test_demo_spammer_flagged_and_flips_disagree_with_consensus(demo_data, tmp_path):
    from curator import artifacts
    from curator.params import IngestParams, Params
    from curator.stages import agreement as stage
    from curator.stages import ingest

    root, truth = demo_data
    params = Params(
        ingest=IngestParams(workers=1),
        agreement=AgreementParams(subgroups=("site",), n_bootstrap=50),
    )
    ingest.run(params, root, tmp_path)
    summary = stage.run(params, tmp_path)
    spammer = [a for a, v in truth["annotators"].items() if v["near_spammer"]]
    assert summary["unreliable_annotators"] == spammer
    flips = {f["path"] for f in truth["label_flips"] if f["split"] == "train"}
    consensus = pd.read_parquet(tmp_path / artifacts.CONSENSUS)
    voted_flips = flips & set(consensus["path"])
    assert voted_flips  # the demo puts every train flip in front of the annotators
    differs = consensus.loc[consensus["given_label"] != consensus["consensus_label"], "path"]
    assert len(voted_flips & set(differs)) / len(voted_flips) >= 0.9


def test_unknown_subgroup_names_the_key():
    from curator.errors import ConfigError

    manifest, votes, _, _ = simulated_votes(n_items=30)
    with pytest.raises(ConfigError, match=r"agreement.subgroups names 'age'"):
        agreement.run(
            CheckInputs(manifest=manifest, annotations=votes),
            AgreementParams(subgroups=("age",), n_bootstrap=0),
        )


def test_robust_to_odd_votes():
    manifest, votes, _, _ = simulated_votes(n_items=120)
    extra_class = manifest.iloc[[0]].assign(
        sample_id="f" * 64, path="never_voted.png", label="99"
    )  # a class nobody annotated
    lone = pd.DataFrame(
        [
            {
                "sample_id": manifest.at[5, "sample_id"],
                "path": "img5.png",
                "annotator": "once",
                "label": "1",
            },  # an annotator with one vote
            {
                "sample_id": "e" * 64,
                "path": "not_in_manifest.png",
                "annotator": "ann0",
                "label": "1",
            },
        ]
    )
    result = agreement.run(
        CheckInputs(
            manifest=pd.concat([manifest, extra_class], ignore_index=True),
            annotations=pd.concat([votes, lone], ignore_index=True),
        ),
        AgreementParams(n_bootstrap=20),
    )
    assert result.summary["n_votes"] == len(votes) + 1  # the unknown image's vote is not used
    assert result.summary["alpha_per_class"]["99"]["value"] is None  # no votes: no number
    once = result.tables["annotators"].set_index("annotator").loc["once"]
    assert once["n_votes"] == 1
    assert all("once" not in p["annotators"] for p in result.summary["cohen_kappa_pairs"])
