"""Label quality: confident learning (cleanlab) on out-of-sample predicted probabilities.

Probabilities come from the user's own model (``label_quality.pred_probs``) or from K-fold
cross-validation of a classifier on the embeddings, with the folds grouped by content so an
exact copy never predicts its twin. cleanlab then flags the samples whose given label the
probabilities contradict, ranks them, and its confident joint estimates the noise rate per
class; flagged shares per split and per subgroup show label bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.checks.base import CheckInputs, CheckResult, make_flags, require_subgroups
from curator.errors import DataError, MissingArtifactError
from curator.params import LabelQualityParams


def out_of_fold_probs(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, params: LabelQualityParams
) -> np.ndarray:
    """K-fold predicted probabilities; a sample's row comes from a model that never saw it."""
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    smallest = np.bincount(y).min()
    if smallest < 2:
        raise DataError(
            "label_quality: a class has a single image; out-of-fold probabilities "
            "need at least 2 per class (or supply label_quality.pred_probs)."
        )
    n_splits = min(params.n_folds, smallest)
    model = LogisticRegression(C=params.regularization_c, max_iter=3000)
    if params.classifier == "kernel_logistic":
        # An RBF kernel (Nystroem approximation, linear in n) before a multinomial logistic
        # regression: kernel-SVM accuracy with well-calibrated probabilities.
        n_train = len(y) - -(-len(y) // n_splits)  # the smallest training fold
        kernel = Nystroem(
            gamma=params.kernel_gamma, n_components=min(1000, n_train), random_state=params.seed
        )
        model = make_pipeline(kernel, model)
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=params.seed)
    return cross_val_predict(model, x, y, groups=groups, cv=folds, method="predict_proba")


def user_probs(table: pd.DataFrame, items: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Align user-supplied probabilities (keyed by path or sample_id) to ``items``."""
    key = "path" if "path" in table.columns else "sample_id"
    if key not in table.columns:
        raise DataError("label_quality.pred_probs needs a 'path' or 'sample_id' column.")
    missing = [c for c in classes if c not in table.columns]
    if missing:
        raise DataError(
            f"label_quality.pred_probs has no column for class(es) {missing}; "
            "name one column per class label."
        )
    aligned = table.drop_duplicates(key).set_index(key).reindex(items[key])
    absent = aligned.index[aligned[classes].isna().any(axis=1)]
    if len(absent):
        raise DataError(
            f"label_quality.pred_probs has no row for {len(absent)} image(s), "
            f"e.g. {absent[0]}; give every readable image a row."
        )
    probs = aligned[classes].to_numpy(dtype=float)
    return probs / probs.sum(axis=1, keepdims=True)


def noise_rates(y: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Overall and per-class label noise from cleanlab's confident joint."""
    from cleanlab.count import estimate_joint

    joint = estimate_joint(y, probs)
    per_class = 1 - np.diag(joint) / np.maximum(joint.sum(axis=1), 1e-12)
    return {
        "overall": float(1 - np.trace(joint)),
        "per_class": dict(zip(classes, per_class.round(6).tolist(), strict=True)),
        "joint": {
            c: dict(zip(classes, row.round(6).tolist(), strict=True))
            for c, row in zip(classes, joint, strict=True)
        },
    }


def run(inputs: CheckInputs, params: LabelQualityParams) -> CheckResult:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    require_subgroups(inputs.manifest, params.subgroups, "label_quality.subgroups")
    items = inputs.manifest[inputs.manifest["readable"]].reset_index(drop=True)
    classes = sorted(items["label"].unique())
    y = items["label"].map({c: k for k, c in enumerate(classes)}).to_numpy()
    if inputs.pred_probs is not None:
        probs, source = user_probs(inputs.pred_probs, items, classes), "user-supplied"
    elif inputs.embeddings is not None:
        ids, vectors = inputs.embeddings
        row = {sid: k for k, sid in enumerate(ids)}
        x = vectors[items["sample_id"].map(row).to_numpy()]
        probs = out_of_fold_probs(x, y, items["sample_id"].to_numpy(), params)
        source = f"{params.n_folds}-fold {params.classifier} on the embeddings"
    else:
        raise MissingArtifactError(
            "label_quality needs embeddings (run `curator embed`) or label_quality.pred_probs."
        )
    flagged = find_label_issues(y, probs, filter_by=params.filter_by)
    quality = get_label_quality_scores(y, probs, method=params.ranked_by)
    suggested = probs.argmax(axis=1)
    table = items[["sample_id", "path", "split"]].assign(
        given_label=items["label"],
        suggested_label=[classes[k] for k in suggested],
        p_given=probs[np.arange(len(y)), y],
        p_suggested=probs.max(axis=1),
        label_quality=quality,
        is_label_issue=flagged,
    )
    flags = make_flags(
        [
            {
                "sample_id": r.sample_id,
                "path": r.path,
                "issue": "label_issue",
                "score": float(1 - r.label_quality),
                "detail": f"labelled {r.given_label!r}; out-of-sample probabilities say "
                f"{r.suggested_label!r} ({r.p_suggested:.2f}; {r.p_given:.2f} for the given "
                "label)",
            }
            for r in table[table["is_label_issue"]].itertuples()
        ]
    )
    rates = noise_rates(y, probs, classes)
    share = lambda col: table.assign(g=col).groupby("g")["is_label_issue"].mean()  # noqa: E731
    summary = {
        "pred_probs_source": source,
        "out_of_fold_accuracy": float((suggested == y).mean()),
        "n_images": len(table),
        "n_label_issues": int(flagged.sum()),
        "estimated_noise_rate": rates["overall"],
        "noise_rate_per_class": rates["per_class"],
        "confident_joint": rates["joint"],
        # per split and subgroup: the share of images confident learning flags there
        "noise_rate_per_split": share(table["split"]).to_dict(),
        "noise_rate_per_subgroup": {
            a: share(items[a].astype("string").fillna("(missing)")).to_dict()
            for a in params.subgroups
        },
    }
    metrics = {
        k: summary[k] for k in ("n_label_issues", "estimated_noise_rate", "out_of_fold_accuracy")
    }
    probs_table = items[["sample_id", "path"]].assign(
        **{f"p_{c}": probs[:, k] for k, c in enumerate(classes)}
    )
    return CheckResult(
        "label_quality",
        flags,
        summary,
        metrics,
        vars(params),
        tables={"label_issues": table, "pred_probs": probs_table},
    )
