"""The aggregation chosen on held-out votes: ties broken by evidence, calibrated confidence,
image evidence weighed by what it is worth, annotators judged only with enough votes."""

import numpy as np
import pandas as pd
import pytest

from curator.checks import agreement
from curator.checks import consensus as cs
from curator.checks.base import CheckInputs
from curator.params import AgreementParams

K = 6


def crowd(n_items=3000, seed=0, hard_share=0.0, n_workers=300):
    """Three votes per item from anonymous workers who share one confusion: class 2k is
    mistaken for 2k+1 (and rarely the reverse). ``hard_share`` of the items are hard: every
    vote on them is much worse (errors that go together, as on real photos)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n_items)
    confusion = np.full((K, K), 0.02)
    for k in range(0, K, 2):
        confusion[k, k + 1] = 0.25
    np.fill_diagonal(confusion, 0)
    np.fill_diagonal(confusion, 1 - confusion.sum(axis=1))
    hard = rng.random(n_items) < hard_share
    rows = []
    for i, t in enumerate(truth):
        p = confusion[t] if not hard[i] else 0.3 * np.eye(K)[t] + 0.7 * np.full(K, 1 / K)
        p = p / p.sum()
        for w in rng.choice(n_workers, 3, replace=False):
            rows.append(
                {"path": f"img{i}.png", "annotator": f"w{w}", "label": str(rng.choice(K, p=p))}
            )
    votes = pd.DataFrame(rows)
    votes["sample_id"] = votes["path"]
    manifest = pd.DataFrame(
        {
            "sample_id": [f"img{i}.png" for i in range(n_items)],
            "path": [f"img{i}.png" for i in range(n_items)],
            "label": truth.astype(str),
            "split": "train",
            "readable": True,
        }
    )
    return manifest, votes, truth


def consensus_of(manifest, votes, probs=None, **kw):
    params = AgreementParams(n_bootstrap=0, **kw)
    return agreement.run(
        CheckInputs(manifest=manifest, annotations=votes, pred_probs=probs), params
    )


def ece(confidence, correct, bins=15):
    b = np.minimum((confidence * bins).astype(int), bins - 1)
    return sum(
        abs(confidence[b == j].mean() - correct[b == j].mean()) * (b == j).mean()
        for j in range(bins)
        if (b == j).any()
    )


def test_a_shared_confusion_is_chosen_and_breaks_ties_by_evidence():
    manifest, votes, truth = crowd()
    result = consensus_of(manifest, votes)
    assert result.summary["aggregation"]["chosen"] == "class_confusion"
    table = result.tables["consensus"].set_index("path").loc[manifest["path"]]
    correct = (table["consensus_label"] == truth.astype(str)).to_numpy()
    tied = table["vote_tied"].to_numpy()
    assert tied.sum() > 30 and table.loc[tied, "majority_label"].isna().all()
    # majority vote with ties at random: a coin among the tied classes
    rng = np.random.default_rng(0)
    counts = pd.crosstab(votes["path"], votes["label"]).loc[manifest["path"]]
    random_tie = np.array([rng.choice(np.flatnonzero(c == c.max())) for c in counts.to_numpy()])
    majority = counts.columns.to_numpy()[random_tie] == truth.astype(str)
    assert correct.mean() >= majority.mean()
    assert correct[tied].mean() > majority[tied].mean() + 0.1  # ties by evidence, not a coin


def test_errors_that_go_together_are_tempered_into_a_calibrated_confidence():
    manifest, votes, truth = crowd(n_items=4000, hard_share=0.3, seed=1)
    result = consensus_of(manifest, votes)
    chosen = result.summary["aggregation"]
    assert chosen["temperature"] < 1.0
    table = result.tables["consensus"].set_index("path").loc[manifest["path"]]
    correct = (table["consensus_label"] == truth.astype(str)).to_numpy()
    tempered = ece(table["consensus_confidence"].to_numpy(), correct)
    # the same aggregation, untempered: more overconfident
    coded, image = _coded(manifest, votes)
    model = cs.fit(coded, chosen["chosen"], image, 0.0, 200, 1e-6)
    raw = cs.posterior(coded, model, image, 1.0).max(axis=1)
    assert tempered < ece(raw, correct)


def _coded(manifest, votes):
    items = pd.Index(sorted(votes["path"].unique()))
    names = sorted(votes["annotator"].unique())
    labels = sorted(set(votes["label"]) | set(manifest["label"]))
    coded = cs.Votes(
        items.get_indexer(votes["path"]),
        pd.Index(names).get_indexer(votes["annotator"]),
        votes["label"].map({c: k for k, c in enumerate(labels)}).to_numpy(),
        len(items),
        len(names),
        len(labels),
    )
    return coded, None


def test_image_evidence_is_weighed_by_what_it_predicts():
    manifest, votes, truth = crowd(n_items=2000, seed=2)
    rng = np.random.default_rng(3)
    informative = np.full((len(truth), K), 0.3 / (K - 1))
    informative[np.arange(len(truth)), truth] = 0.7
    noise = rng.dirichlet(np.ones(K), len(truth))
    results = {}
    for name, matrix in (("informative", informative), ("noise", noise)):
        probs = pd.DataFrame(matrix, columns=[f"p_{k}" for k in range(K)])
        probs.insert(0, "path", manifest["path"])
        results[name] = consensus_of(manifest, votes, probs)
    weight = {n: r.summary["aggregation"]["image_weight"] for n, r in results.items()}
    assert weight["informative"] >= 0.5 and weight["noise"] == 0.0

    def accuracy(r):
        t = r.tables["consensus"].set_index("path").loc[manifest["path"]]
        return (t["consensus_label"] == truth.astype(str)).mean()

    assert accuracy(results["informative"]) > accuracy(consensus_of(manifest, votes)) + 0.02
    off = consensus_of(manifest, votes, probs, image_evidence="off")
    assert off.summary["aggregation"]["image_weight"] == 0.0


def test_an_annotator_is_judged_only_with_enough_votes():
    manifest, votes, _ = crowd(n_items=600, n_workers=5, seed=4)
    rng = np.random.default_rng(5)
    few = votes.sample(10, random_state=0).assign(annotator="newcomer")
    few["label"] = [str(rng.integers(0, K)) for _ in range(10)]  # a coin
    many = votes.sample(200, random_state=1).assign(annotator="spammer")
    many["label"] = [str(rng.integers(0, K)) for _ in range(200)]
    result = consensus_of(manifest, pd.concat([votes, few, many], ignore_index=True))
    table = result.tables["annotators"].set_index("annotator")
    assert table.loc["spammer", "unreliable"] and not table.loc["newcomer", "unreliable"]
    newcomer = table.loc["newcomer"]
    assert newcomer["n_votes"] == 10
    assert newcomer["accuracy_ci_high"] - newcomer["accuracy_ci_low"] > 0.3  # honest width
    assert result.summary["unreliable_annotators"] == ["spammer"]


def test_held_out_votes_are_one_per_item_with_two_or_more():
    coded = cs.Votes(
        np.array([0, 0, 0, 1, 2, 2]),
        np.array([0, 1, 2, 0, 0, 1]),
        np.array([1, 1, 0, 0, 1, 1]),
        3,
        3,
        2,
    )
    held = cs.held_out_votes(coded, np.random.default_rng(0))
    assert np.bincount(coded.item[held], minlength=3).tolist() == [1, 0, 1]


@pytest.mark.parametrize("optimum", [0.07, 0.3, 1.5])
def test_the_temperature_is_searched_where_the_optimum_is(optimum):
    """The held-out fit as a function of the temperature, peaked at ``optimum``: the search
    returns it, inside or outside the 0.5-1.0 grid the temperature was once chosen on (on one
    crowd set every candidate sat at the grid's 0.5 edge)."""

    def loglik(temperature: float) -> np.ndarray:
        return -np.full(10, (np.log(temperature) - np.log(optimum)) ** 2)

    assert cs.best_temperature(loglik) == pytest.approx(optimum, rel=0.02)


def test_the_candidates_table_marks_the_searched_temperature():
    manifest, votes, _ = crowd(n_items=1500, hard_share=0.3, seed=2)
    chosen = consensus_of(manifest, votes).summary["aggregation"]
    rows = [
        c
        for c in chosen["candidates"]
        if c["aggregation"] == chosen["chosen"] and c["image_weight"] == chosen["image_weight"]
    ]
    fit = {c["temperature"]: c["heldout_loglik"] for c in rows}
    (best,) = [c["temperature"] for c in rows if c["best"]]
    assert best == chosen["temperature"] and fit[best] == max(fit.values())
    assert {*cs.REPORTED_TEMPERATURES} <= set(fit)
