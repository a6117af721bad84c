"""Inter-annotator agreement, annotator reliability and consensus labels.

Statistics, each with a bootstrap confidence interval over items where sampling matters:
Cohen's kappa for every annotator pair with enough shared items (scikit-learn), Fleiss' kappa
(the form for a varying number of raters per item), Krippendorff's alpha, nominal (the
``krippendorff`` package) overall, per class (one-vs-rest) and per subgroup. Reliability and
consensus come from Dawid & Skene's EM (1979): a confusion matrix per annotator and a posterior
over the true label of every item, so a careful annotator outweighs a spammer where a majority
vote cannot tell them apart.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from curator.checks.base import CheckInputs, CheckResult, make_flags
from curator.errors import ConfigError
from curator.params import AgreementParams

SMOOTHING = 0.01  # Dirichlet pseudo-count keeping confusion matrices away from exact zeros


def vote_counts(items: pd.Index, votes: pd.DataFrame, categories: list[str]) -> np.ndarray:
    """(n_items, n_categories) count of votes per category; items are paths (votes are cast
    on files, and two copies of one image may carry different labels)."""
    table = pd.crosstab(votes["path"], votes["label"])
    return table.reindex(index=items, columns=categories, fill_value=0).to_numpy()


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from per-item category counts; items may have different rater numbers
    (items with fewer than two votes carry no agreement information and are skipped)."""
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=1)
    counts, n = counts[n >= 2], n[n >= 2]
    if len(n) == 0:
        return float("nan")
    p_item = ((counts * (counts - 1)).sum(axis=1)) / (n * (n - 1))
    p_cat = counts.sum(axis=0) / n.sum()
    p_e = float((p_cat**2).sum())
    return float((p_item.mean() - p_e) / (1 - p_e)) if p_e < 1 else 1.0


def krippendorff_alpha(matrix: np.ndarray) -> float:
    """Nominal alpha of an (annotators, items) matrix of category codes with NaN for no vote."""
    import krippendorff

    usable = (~np.isnan(matrix)).sum(axis=0) >= 2
    if usable.sum() < 2 or len(np.unique(matrix[:, usable][~np.isnan(matrix[:, usable])])) < 2:
        return float("nan")
    return float(
        krippendorff.alpha(reliability_data=matrix[:, usable], level_of_measurement="nominal")
    )


def bootstrap_ci(stat, n_items: int, params: AgreementParams, rng: np.random.Generator) -> list:
    """Percentile interval of ``stat(item_indices)`` over item resamples."""
    values = [stat(rng.integers(0, n_items, n_items)) for _ in range(params.n_bootstrap)]
    values = np.array([v for v in values if not np.isnan(v)])
    if len(values) == 0:
        return [None, None]
    tail = (1 - params.ci_level) / 2
    return [float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))]


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
            tables={"annotators": pd.DataFrame(), "consensus": pd.DataFrame()},
        )
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

    def alpha_of(cols, m=matrix):
        return krippendorff_alpha(m[:, cols])

    summary = {
        "n_votes": len(votes),
        "n_items": len(items),
        "n_annotators": len(names),
        "fleiss_kappa": _with_ci(lambda idx: fleiss_kappa(counts[idx]), len(items), params, rng),
        "krippendorff_alpha": _with_ci(alpha_of, len(items), params, rng),
        "cohen_kappa_pairs": _cohen_pairs(matrix, names, params, rng),
        "alpha_per_class": {
            c: _with_ci(
                lambda idx, k=k: alpha_of(idx, np.where(np.isnan(matrix), np.nan, matrix == k)),
                len(items),
                params,
                rng,
            )
            for c, k in cat_code.items()
        },
        "alpha_per_subgroup": _per_subgroup(matrix, info, params, rng),
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


def _with_ci(stat, n_items: int, params: AgreementParams, rng) -> dict[str, Any]:
    value = stat(np.arange(n_items))
    ci = bootstrap_ci(stat, n_items, params, rng) if not np.isnan(value) else [None, None]
    return {"value": None if np.isnan(value) else value, "ci": ci, "n_items": n_items}


def _cohen_pairs(matrix, names, params, rng) -> list[dict[str, Any]]:
    from sklearn.metrics import cohen_kappa_score

    out = []
    for a, b in combinations(range(len(names)), 2):
        shared = np.flatnonzero(~np.isnan(matrix[a]) & ~np.isnan(matrix[b]))
        if len(shared) < params.min_pair_overlap:
            continue
        x, y = matrix[a, shared], matrix[b, shared]

        def kappa(idx, x=x, y=y):
            if len(np.unique(np.r_[x[idx], y[idx]])) < 2:
                return float("nan")
            return float(cohen_kappa_score(x[idx], y[idx]))

        out.append({"annotators": [names[a], names[b]]} | _with_ci(kappa, len(shared), params, rng))
    return out


def _per_subgroup(matrix, info, params, rng) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute in params.subgroups:
        if attribute not in info.columns:
            raise ConfigError(
                f"params: agreement.subgroups names {attribute!r}, which is not a column of the "
                "manifest; name a metadata column (see audits/ingest.json metadata_columns)."
            )
        groups = info[attribute].astype("string").fillna("(missing)").to_numpy()
        out[attribute] = {}
        for g in sorted(set(groups)):
            cols = np.flatnonzero(groups == g)
            sub = matrix[:, cols]
            out[attribute][str(g)] = _with_ci(
                lambda idx, s=sub: krippendorff_alpha(s[:, idx]), len(cols), params, rng
            )
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
