"""Inter-annotator agreement, annotator reliability and consensus labels.

Statistics, each with a percentile bootstrap confidence interval over items: Cohen's kappa for
every annotator pair with enough shared items, Fleiss' kappa (the form for a varying number of
raters per item), Krippendorff's alpha (nominal) overall, per class (one-vs-rest) and per
subgroup. Each is a function of sums over items, so a bootstrap resample is a reweighting and
thousands of resamples cost a few matrix products (tests check every statistic against
scikit-learn, the ``krippendorff`` package and hand-worked cases). Consensus labels and each
annotator's estimated accuracy come from the aggregation that best predicts held-out votes
(checks/consensus.py), so a careful annotator outweighs a spammer where a majority vote cannot
tell them apart, and a tie is broken by evidence.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from curator.checks import consensus as cs
from curator.checks.base import CheckInputs, CheckResult, make_flags, require_subgroups
from curator.evaluation.intervals import interval_or_none, jeffreys_interval, resample_counts
from curator.io.sources import known_values
from curator.params import AgreementParams

BOOTSTRAP_CHUNK = 64  # resamples per weight matrix: bounded memory at any number of items


def _pairable(counts: np.ndarray, weights: np.ndarray | None) -> tuple:
    """(counts, votes per item, weights) for the items with at least two votes: the only ones
    that carry agreement information. No weights means one row of ones (the plain estimate)."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    keep = m >= 2
    w = np.ones((1, len(m))) if weights is None else np.asarray(weights, dtype=float)
    return counts[keep], m[keep], w[:, keep]


def fleiss_kappa(counts: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Fleiss' kappa from per-item category counts, for each row of item ``weights``.

    Items may have different numbers of raters; items with fewer than two votes carry no
    agreement information and are skipped. Without weights, returns one value.
    """
    counts, m, w = _pairable(counts, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_item = (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))
        p_bar = (w @ p_item) / w.sum(axis=1)
        p_cat = (w @ counts) / (w @ m)[:, None]
        p_e = (p_cat**2).sum(axis=1)
        return (p_bar - p_e) / (1 - p_e)


def nominal_alpha(counts: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Krippendorff's alpha (nominal) from per-item category counts, per row of ``weights``.

    With the coincidence matrix o_ck = sum_u n_uc (n_uk - [c=k]) / (m_u - 1) and n_c its
    margins: D_o = 1 - sum_c o_cc / n and D_e = 1 - sum_c n_c (n_c - 1) / (n (n - 1)); both are
    sums over items, so a bootstrap resample is a reweighting (tested against the
    ``krippendorff`` package).
    """
    counts, m, w = _pairable(counts, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = (counts * (counts - 1)).sum(axis=1) / (m - 1)
        n_c = w @ counts
        n = n_c.sum(axis=1)
        d_o = 1 - (w @ agree) / n
        d_e = 1 - (n_c * (n_c - 1)).sum(axis=1) / (n * (n - 1))
        return 1 - d_o / d_e


def cohen_kappa(x: np.ndarray, y: np.ndarray, k: int, weights: np.ndarray | None = None):
    """Cohen's kappa of two raters' category codes on shared items, per row of ``weights``."""
    w = np.ones((1, len(x))) if weights is None else np.asarray(weights, dtype=float)
    cells = np.zeros((len(x), k * k))
    cells[np.arange(len(x)), x * k + y] = 1.0
    table = (w @ cells).reshape(-1, k, k)
    n = table.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_o = np.trace(table, axis1=1, axis2=2) / n
        p_e = (table.sum(axis=2) * table.sum(axis=1)).sum(axis=1) / n**2
        return (p_o - p_e) / (1 - p_e)


def with_ci(stat, n_items: int, params: AgreementParams, rng) -> dict[str, Any]:
    """``stat(weights)`` on all items plus a percentile bootstrap interval over items."""
    boot = np.concatenate(
        [np.empty(0)]
        + [
            stat(resample_counts(rng, n_items, min(BOOTSTRAP_CHUNK, params.n_bootstrap - done)))
            for done in range(0, params.n_bootstrap, BOOTSTRAP_CHUNK)
        ]
    )
    value = stat(np.ones((1, n_items)))[0]
    if np.isnan(value):
        return {"value": None, "ci": [None, None], "n_items": n_items}
    return {
        "value": float(value),
        "ci": interval_or_none(boot, params.ci_level),
        "n_items": n_items,
    }


# the tables' columns, also when there are no annotations (later stages read them by name)
ANNOTATOR_COLUMNS = [
    "annotator",
    "n_votes",
    "estimated_accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "agreement_with_consensus",
    "unreliable",
]
CONSENSUS_COLUMNS = [
    "sample_id",
    "path",
    "given_label",
    "n_votes",
    "consensus_label",
    "consensus_confidence",
    "p_given_label",  # the consensus probability of the given label
    "majority_label",  # empty where the most-voted classes tie
    "vote_tied",
    "vote_agreement",
]


def image_log_probs(probs: pd.DataFrame | None, items: pd.Index, categories: list[str]):
    """log of the image model's out-of-fold probabilities (label_quality's ``p_<class>``
    columns, keyed by path) for ``items`` x ``categories``; None when there are none."""
    if probs is None or probs.empty:
        return None
    table = probs.drop_duplicates("path").set_index("path").reindex(items)
    columns = [f"p_{c}" for c in categories]
    if table[[c for c in columns if c in table.columns]].isna().any(axis=None):
        return None  # some voted image has no probabilities: do not mix evidence kinds
    matrix = np.column_stack(
        [table[c].to_numpy(float) if c in table.columns else np.zeros(len(items)) for c in columns]
    )
    matrix = np.maximum(matrix, cs.FLOOR)
    return np.log(matrix / matrix.sum(axis=1, keepdims=True))


def run(inputs: CheckInputs, params: AgreementParams) -> CheckResult:
    votes = inputs.annotations
    if votes is None or votes.empty:
        summary: dict[str, Any] = {"n_votes": 0, "note": "no annotations: agreement not measured"}
        return CheckResult(
            "agreement",
            make_flags([]),
            summary,
            {"n_votes": 0},
            vars(params),
            tables={
                "annotators": pd.DataFrame(columns=ANNOTATOR_COLUMNS),
                "consensus": pd.DataFrame(columns=CONSENSUS_COLUMNS),
            },
        )
    require_subgroups(inputs.manifest, params.subgroups, "agreement.subgroups")
    manifest = inputs.manifest[inputs.manifest["readable"]]
    votes = votes[votes["path"].isin(manifest["path"])]
    categories = sorted(set(votes["label"]) | set(manifest["label"]))
    cat_code = {c: k for k, c in enumerate(categories)}
    items = pd.Index(sorted(votes["path"].unique()))
    names = sorted(votes["annotator"].unique())
    coded = cs.Votes(
        items.get_indexer(votes["path"]),
        pd.Index(names).get_indexer(votes["annotator"]),
        votes["label"].map(cat_code).to_numpy(),
        len(items),
        len(names),
        len(categories),
    )
    matrix = np.full((len(names), len(items)), np.nan)
    matrix[coded.annotator, coded.item] = coded.label
    counts = coded.counts()
    rng = np.random.default_rng(params.seed)
    info = manifest.set_index("path").loc[items]
    table, annotators, choice = _consensus(coded, inputs, items, names, categories, info, params)

    n = len(items)
    one_vs_rest = {
        k: np.column_stack([counts[:, k], counts.sum(axis=1) - counts[:, k]])
        for k in cat_code.values()
    }
    summary = {
        "n_votes": len(votes),
        "n_items": len(items),
        "n_annotators": len(names),
        "fleiss_kappa": with_ci(lambda w: fleiss_kappa(counts, w), n, params, rng),
        "krippendorff_alpha": with_ci(lambda w: nominal_alpha(counts, w), n, params, rng),
        "cohen_kappa_pairs": _cohen_pairs(matrix, names, len(categories), params, rng),
        "alpha_per_class": {
            c: with_ci(lambda w, k=k: nominal_alpha(one_vs_rest[k], w), n, params, rng)
            for c, k in cat_code.items()
        },
        "alpha_per_subgroup": _per_subgroup(counts, info, params, rng),
        "aggregation": {
            "chosen": choice.kind,
            "image_weight": choice.image_weight,
            "temperature": choice.temperature,
            "criterion": "log-likelihood of one held-out vote per item",
            "candidates": choice.candidates,
        },
        "n_vote_ties": int(table["vote_tied"].sum()),
        "annotators": annotators.to_dict(orient="records"),
        "unreliable_annotators": annotators.loc[annotators["unreliable"], "annotator"].tolist(),
        # reliability is judged only with enough votes: 'no unreliable one' means of these
        "n_annotators_judged": int((annotators["n_votes"] >= params.min_annotator_votes).sum()),
        "min_annotator_votes": params.min_annotator_votes,
        "n_given_label_differs_from_consensus": int(
            (table["given_label"] != table["consensus_label"]).sum()
        ),
        "n_low_agreement": int(
            (table["consensus_confidence"] < params.min_consensus_confidence).sum()
        ),
    }
    flags = _flags(table, params)
    # headline number for `dvc metrics` (agreement.json has the rest)
    metrics = {"alpha": summary["krippendorff_alpha"]["value"]}
    return CheckResult(
        "agreement",
        flags,
        summary,
        metrics,
        vars(params),
        tables={"annotators": annotators, "consensus": table},
    )


def _given_probability(post: np.ndarray, given: pd.Series, categories: list[str]) -> np.ndarray:
    code = given.map({c: k for k, c in enumerate(categories)}).to_numpy()
    return post[np.arange(len(post)), code]


def _consensus(coded, inputs, items, names, categories, info, params: AgreementParams):
    """The consensus table, the annotator table and the aggregation chosen for them."""
    image_logp = (
        image_log_probs(inputs.pred_probs, items, categories)
        if params.image_evidence == "auto"
        else None
    )
    rng = np.random.default_rng(params.seed)
    kinds = cs.AGGREGATIONS if params.aggregation == "auto" else (params.aggregation,)
    choice = cs.choose(coded, image_logp, kinds, params.max_iter, params.tol, rng)
    model = cs.fit(coded, choice.kind, image_logp, choice.image_weight, params.max_iter, params.tol)
    post = cs.posterior(coded, model, image_logp, choice.temperature)
    counts = coded.counts()
    top = counts.max(axis=1, keepdims=True)
    tied = (counts == top).sum(axis=1) > 1
    best = post.argmax(axis=1)
    table = pd.DataFrame(
        {
            "sample_id": info["sample_id"].to_numpy(),
            "path": items,
            "given_label": info["label"].to_numpy(),
            "n_votes": counts.sum(axis=1).astype(int),
            "consensus_label": [categories[k] for k in best],
            "consensus_confidence": post.max(axis=1),
            "p_given_label": _given_probability(post, info["label"], categories),
            "majority_label": [
                None if t else categories[k]
                for t, k in zip(tied, counts.argmax(axis=1), strict=True)
            ],
            "vote_tied": tied,
            "vote_agreement": counts.max(axis=1) / counts.sum(axis=1),
        }
    )
    correct = post[coded.item, coded.label]  # probability that each vote is right
    n_votes = np.bincount(coded.annotator, minlength=len(names))
    mass = np.bincount(coded.annotator, weights=correct, minlength=len(names))
    agrees = np.bincount(
        coded.annotator, weights=(coded.label == best[coded.item]), minlength=len(names)
    )
    low, high = jeffreys_interval(mass, n_votes, params.ci_level)
    annotators = pd.DataFrame(
        {
            "annotator": names,
            "n_votes": n_votes,
            "estimated_accuracy": mass / n_votes,
            "accuracy_ci_low": low,
            "accuracy_ci_high": high,
            "agreement_with_consensus": agrees / n_votes,
            # unreliable only when sure: enough votes and the whole interval below the bar
            "unreliable": (n_votes >= params.min_annotator_votes)
            & (high < params.min_annotator_accuracy),
        }
    )
    return table, annotators, choice


def _cohen_pairs(matrix, names, k: int, params, rng) -> list[dict[str, Any]]:
    out = []
    for a, b in combinations(range(len(names)), 2):
        shared = np.flatnonzero(~np.isnan(matrix[a]) & ~np.isnan(matrix[b]))
        if len(shared) < params.min_pair_overlap:
            continue
        x, y = matrix[a, shared].astype(int), matrix[b, shared].astype(int)
        stat = with_ci(lambda w, x=x, y=y: cohen_kappa(x, y, k, w), len(shared), params, rng)
        out.append({"annotators": [names[a], names[b]]} | stat)
    return out


def _per_subgroup(counts, info, params, rng) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute in params.subgroups:
        groups = known_values(info[attribute])  # an unknown value is in no subgroup
        out[attribute] = {}
        for g in sorted(groups.dropna().unique()):
            inside = (groups == g).fillna(False).to_numpy()
            sub = counts[inside]
            stat = with_ci(lambda w, sub=sub: nominal_alpha(sub, w), int(inside.sum()), params, rng)
            out[attribute][str(g)] = stat
    return out


def _flags(table: pd.DataFrame, params: AgreementParams) -> pd.DataFrame:
    rows = []
    for r in table.itertuples():
        if r.consensus_confidence < params.min_consensus_confidence:
            rows.append(
                {
                    "sample_id": r.sample_id,
                    "path": r.path,
                    "issue": "low_agreement",
                    "score": 1.0 - r.consensus_confidence,
                    "detail": f"annotators disagree: consensus {r.consensus_label!r} with "
                    f"confidence {r.consensus_confidence:.2f} from {r.n_votes} "
                    f"votes",
                }
            )
        if r.given_label != r.consensus_label:
            rows.append(
                {
                    "sample_id": r.sample_id,
                    "path": r.path,
                    "issue": "label_differs_from_consensus",
                    # the probability, from the votes, that the given label is wrong
                    "score": 1.0 - r.p_given_label,
                    "detail": f"labelled {r.given_label!r} but annotators' consensus is "
                    f"{r.consensus_label!r} (confidence {r.consensus_confidence:.2f}, "
                    f"{r.n_votes} votes; {r.p_given_label:.2f} for the given label)",
                }
            )
    return make_flags(rows)
