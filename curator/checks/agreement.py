"""Inter-annotator agreement, annotator reliability and consensus labels.

Statistics, each with a percentile bootstrap confidence interval over items: Cohen's kappa for
every annotator pair with enough shared items, Fleiss' kappa (the form for a varying number of
raters per item), Krippendorff's alpha (nominal) overall, per class (one-vs-rest) and per
subgroup. Each is a function of sums over items, so a bootstrap resample is a reweighting and
thousands of resamples cost a few matrix products (tests check every statistic against
scikit-learn, the ``krippendorff`` package and hand-worked cases). Reliability and
consensus come from Dawid & Skene's EM (1979): a confusion matrix per annotator and a posterior
over the true label of every item, so a careful annotator outweighs a spammer where a majority
vote cannot tell them apart.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from curator.checks.base import CheckInputs, CheckResult, make_flags, require_subgroups
from curator.params import AgreementParams

SMOOTHING = 0.01  # Dirichlet pseudo-count keeping confusion matrices away from exact zeros
BOOTSTRAP_CHUNK = 64  # resamples per weight matrix: bounded memory at any number of items


def vote_counts(items: pd.Index, votes: pd.DataFrame, categories: list[str]) -> np.ndarray:
    """(n_items, n_categories) count of votes per category; items are paths (votes are cast
    on files, and two copies of one image may carry different labels)."""
    table = pd.crosstab(votes["path"], votes["label"])
    return table.reindex(index=items, columns=categories, fill_value=0).to_numpy()


def _weights(n_items: int, reps: int, rng: np.random.Generator | None) -> np.ndarray:
    """Row 0: every item once (the estimate); rows 1..reps: bootstrap resample counts."""
    rows = [np.ones(n_items)]
    for _ in range(reps if rng is not None else 0):
        rows.append(np.bincount(rng.integers(0, n_items, n_items), minlength=n_items))
    return np.array(rows, dtype=float)


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
    values = np.concatenate(
        [stat(_weights(n_items, 0, None))]
        + [
            stat(_weights(n_items, min(BOOTSTRAP_CHUNK, params.n_bootstrap - done), rng)[1:])
            for done in range(0, params.n_bootstrap, BOOTSTRAP_CHUNK)
        ]
    )
    value, boot = values[0], values[1:][~np.isnan(values[1:])]
    if np.isnan(value):
        return {"value": None, "ci": [None, None], "n_items": n_items}
    tail = (1 - params.ci_level) / 2
    ci = (
        [float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))]
        if len(boot)
        else [None, None]
    )
    return {"value": float(value), "ci": ci, "n_items": n_items}


def dawid_skene(
    codes: np.ndarray, n_classes: int, max_iter: int, tol: float, one_coin: bool = True
) -> tuple:
    """EM over (item, annotator, label) code triples.

    Returns (posterior (n_items, K), confusion (n_annotators, K, K), priors (K,)). Starts
    from the vote shares (a soft majority vote), so it is deterministic. ``one_coin`` ties each
    annotator's confusion matrix to one accuracy with errors spread evenly: K*K free cells per
    annotator overfit a few hundred votes and make the posteriors overconfident.
    """
    item, annotator, label = codes.T
    n_items, n_ann = item.max() + 1, annotator.max() + 1
    post = np.zeros((n_items, n_classes))
    np.add.at(post, (item, label), 1.0)
    post /= post.sum(axis=1, keepdims=True)
    for _ in range(max_iter):
        priors = post.mean(axis=0)
        conf = np.full((n_ann, n_classes, n_classes), SMOOTHING)
        np.add.at(conf, (annotator, slice(None), label), post[item])
        if one_coin:
            acc = np.trace(conf, axis1=1, axis2=2) / conf.sum(axis=(1, 2))
            off = (1 - acc) / max(n_classes - 1, 1)
            conf = np.broadcast_to(off[:, None, None], conf.shape).copy()
            conf[:, np.arange(n_classes), np.arange(n_classes)] = acc[:, None]
        conf /= conf.sum(axis=2, keepdims=True)
        log_post = np.tile(np.log(priors + 1e-12), (n_items, 1))
        np.add.at(log_post, item, np.log(conf[annotator, :, label]))
        new = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        new /= new.sum(axis=1, keepdims=True)
        done = np.abs(new - post).max() < tol
        post = new
        if done:
            break
    return post, conf, priors


def _annotator_table(codes, post, names, votes, consensus_code) -> pd.DataFrame:
    item, annotator, label = codes.T
    correct = post[item, label]  # posterior probability that this vote is right
    agrees = label == consensus_code[item]
    df = pd.DataFrame({"annotator": annotator, "p_correct": correct, "agrees": agrees})
    table = df.groupby("annotator").agg(
        n_votes=("p_correct", "size"),
        estimated_accuracy=("p_correct", "mean"),
        agreement_with_consensus=("agrees", "mean"),
    )
    table.index = [names[i] for i in table.index]
    return table.rename_axis("annotator").reset_index()


# the tables' columns, also when there are no annotations (later stages read them by name)
ANNOTATOR_COLUMNS = [
    "annotator",
    "n_votes",
    "estimated_accuracy",
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
    "majority_label",
    "vote_agreement",
]


def run(inputs: CheckInputs, params: AgreementParams) -> CheckResult:
    votes = inputs.annotations
    if votes is None or votes.empty:
        summary = {"n_votes": 0, "note": "no annotations: agreement not measured"}
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
    codes = np.column_stack(
        [
            items.get_indexer(votes["path"]),
            pd.Index(names).get_indexer(votes["annotator"]),
            votes["label"].map(cat_code).to_numpy(),
        ]
    )
    matrix = np.full((len(names), len(items)), np.nan)
    matrix[codes[:, 1], codes[:, 0]] = codes[:, 2]
    counts = vote_counts(items, votes, categories)
    rng = np.random.default_rng(params.seed)

    post, _, _ = dawid_skene(
        codes, len(categories), params.max_iter, params.tol, params.model == "one_coin"
    )
    consensus = post.argmax(axis=1)
    info = manifest.set_index("path").loc[items]
    majority = _majority(counts)
    table = pd.DataFrame(
        {
            "sample_id": info["sample_id"].to_numpy(),
            "path": items,
            "given_label": info["label"].to_numpy(),
            "n_votes": counts.sum(axis=1),
            "consensus_label": [categories[k] for k in consensus],
            "consensus_confidence": post.max(axis=1),
            "majority_label": [categories[k] if k >= 0 else None for k in majority],
            "vote_agreement": counts.max(axis=1) / counts.sum(axis=1),
        }
    )
    annotators = _annotator_table(codes, post, names, votes, consensus)
    annotators["unreliable"] = annotators["estimated_accuracy"] < params.min_annotator_accuracy

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
        "annotators": annotators.to_dict(orient="records"),
        "unreliable_annotators": annotators.loc[annotators["unreliable"], "annotator"].tolist(),
        "n_given_label_differs_from_consensus": int(
            (table["given_label"] != table["consensus_label"]).sum()
        ),
        "n_low_agreement": int(
            (table["consensus_confidence"] < params.min_consensus_confidence).sum()
        ),
    }
    flags = _flags(table, params)
    metrics = {
        k: summary[k]
        for k in ("n_votes", "n_items", "n_low_agreement", "n_given_label_differs_from_consensus")
    } | {
        "krippendorff_alpha": summary["krippendorff_alpha"]["value"],
        "fleiss_kappa": summary["fleiss_kappa"]["value"],
        "n_unreliable_annotators": len(summary["unreliable_annotators"]),
    }
    return CheckResult(
        "agreement",
        flags,
        summary,
        metrics,
        vars(params),
        tables={"annotators": annotators, "consensus": table},
    )


def _majority(counts: np.ndarray) -> np.ndarray:
    """Plurality vote per item; -1 where the top count is tied (a majority vote cannot say)."""
    top = counts.max(axis=1, keepdims=True)
    tied = (counts == top).sum(axis=1) > 1
    return np.where(tied, -1, counts.argmax(axis=1))


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
        groups = info[attribute].astype("string").fillna("(missing)").to_numpy()
        out[attribute] = {
            str(g): with_ci(
                lambda w, sub=counts[groups == g]: nominal_alpha(sub, w),
                int((groups == g).sum()),
                params,
                rng,
            )
            for g in sorted(set(groups))
        }
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
                    "score": r.consensus_confidence,
                    "detail": f"labelled {r.given_label!r} but annotators' consensus is "
                    f"{r.consensus_label!r} (confidence "
                    f"{r.consensus_confidence:.2f}, {r.n_votes} votes)",
                }
            )
    return make_flags(rows)
