"""Label quality: confident learning (cleanlab) on out-of-sample predicted probabilities.

Probabilities come from the user's own model (``label_quality.pred_probs``) or from K-fold
cross-validation, with the folds grouped by content so an exact copy never predicts its twin, of
a classifier on the embeddings or of a small CNN trained on the images themselves (image_cnn.py:
far stronger than a classifier on the fallback descriptors when no pretrained weights exist).
cleanlab then flags the samples whose given label the probabilities contradict, ranks them, and
its confident joint estimates the noise rate per class; flagged shares per split and per
subgroup show label bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.checks import label_evidence
from curator.checks.base import CheckInputs, CheckResult, make_flags, require_subgroups
from curator.errors import DataError, MissingArtifactError
from curator.evaluation.intervals import jeffreys_interval
from curator.evaluation.metrics import Scored, calibration_table, expected_calibration_error
from curator.io.progress import progress
from curator.io.sources import known_values
from curator.params import LabelQualityParams


def n_folds(y: np.ndarray, groups: np.ndarray, params: LabelQualityParams) -> int:
    """label_quality.n_folds, or fewer where a class has fewer distinct contents: every fold's
    training part must hold every class, and a content never straddles two folds."""
    distinct = pd.DataFrame({"y": y, "g": groups}).groupby("y")["g"].nunique()
    return int(min(params.n_folds, distinct.min()))


def folds(y: np.ndarray, groups: np.ndarray, params: LabelQualityParams) -> list[tuple]:
    """Stratified K-fold (train, held-out) index pairs; one content never straddles two folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(
        n_splits=n_folds(y, groups, params), shuffle=True, random_state=params.seed
    )
    return list(splitter.split(np.zeros(len(y)), y, groups))


def why_not_measurable(
    y: np.ndarray, groups: np.ndarray, classes: list[str], params: LabelQualityParams, own: bool
) -> str | None:
    """Why no label can be judged on this data (None when one can): a single class has no other
    label to tell it from; out-of-fold probabilities (not ``own``: the user's) need two distinct
    contents in every class."""
    if len(classes) < 2:
        label = f"label {classes[0]!r}" if classes else "no readable image, so no label"
        return f"every image has the same {label}: there is no other label to tell it from"
    if own:
        return None
    distinct = pd.DataFrame({"y": y, "g": groups}).groupby("y")["g"].nunique()
    if distinct.min() < 2:
        cls = classes[int(distinct.idxmin())]
        return (
            f"class {cls!r} has a single distinct image (exact copies count once): out-of-fold "
            "probabilities need at least two per class; give your model's probabilities "
            "(--pred-probs) to judge its labels"
        )
    return None


def out_of_fold_probs(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, params: LabelQualityParams
) -> np.ndarray:
    """K-fold predicted probabilities; a sample's row comes from a model that never saw it."""
    from sklearn.base import clone
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    cv = folds(y, groups, params)
    model = LogisticRegression(C=params.regularization_c, max_iter=3000)
    if params.classifier == "kernel_logistic":
        # An RBF kernel (Nystroem approximation, linear in n) before a multinomial logistic
        # regression: kernel-SVM accuracy with well-calibrated probabilities.
        n_train = min(len(train) for train, _ in cv)
        kernel = Nystroem(
            gamma=params.kernel_gamma, n_components=min(1000, n_train), random_state=params.seed
        )
        model = make_pipeline(kernel, model)
    probs = np.empty((len(y), int(y.max()) + 1))
    desc = f"label_quality: {params.classifier} folds"
    for train, held in progress(cv, desc=desc, unit="fold"):
        probs[held] = clone(model).fit(x[train], y[train]).predict_proba(x[held])
    return probs


def out_of_fold_cnn_probs(
    images: np.ndarray, y: np.ndarray, groups: np.ndarray, params: LabelQualityParams, device: str
) -> np.ndarray:
    """K-fold probabilities of the small CNN trained on the images (image_cnn.py)."""
    from curator.learn.image_cnn import out_of_fold_cnn_probs as cnn_probs

    settings = {
        "width": params.cnn_width,
        "epochs": params.cnn_epochs,
        "batch_size": params.cnn_batch_size,
        "learning_rate": params.cnn_learning_rate,
    }
    n_classes = int(y.max()) + 1
    return cnn_probs(images, y, folds(y, groups, params), n_classes, settings, params.seed, device)


def user_probs(table: pd.DataFrame, items: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Align user-supplied probabilities (keyed by path or sample_id) to ``items``.

    Class columns are named by the class (``cat``) or as curator writes them (``p_cat``, so an
    ``audits/pred_probs.parquet`` of another run is accepted as it is)."""
    where = table.attrs.get("source", "label_quality.pred_probs")
    key = "path" if "path" in table.columns else "sample_id"
    if key not in table.columns:
        raise DataError(f"{where} needs a 'path' or 'sample_id' column.")
    prefixed = [f"p_{c}" for c in classes]
    columns = prefixed if all(c in table.columns for c in prefixed) else list(classes)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"{where} has no column for class(es) {missing}; "
            "name one column per class label (or p_<label>)."
        )
    aligned = table.drop_duplicates(key).set_index(key).reindex(items[key])
    values = aligned[columns].apply(pd.to_numeric, errors="coerce")
    absent = aligned.index[values.isna().any(axis=1)]
    if len(absent):
        raise DataError(
            f"{where} has no row (or a non-numeric value) for {len(absent)} "
            f"image(s), e.g. {absent[0]}; give every readable image a row of numbers."
        )
    probs = values.to_numpy(dtype=float)
    infinite = ~np.isfinite(probs).all(axis=1)
    if infinite.any():
        row = aligned.index[infinite][0]
        raise DataError(
            f"{where} row {row}: a probability is infinite; give finite numbers >= 0 "
            "(probabilities, or a softmax of the logits)."
        )
    if (probs < 0).any() or (probs.sum(axis=1) <= 0).any():
        bad = aligned.index[(probs < 0).any(axis=1) | (probs.sum(axis=1) <= 0)][0]
        raise DataError(f"{where} row {bad}: probabilities must be >= 0 and not all 0.")
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
    groups = items["sample_id"].to_numpy()
    reason = why_not_measurable(y, groups, classes, params, inputs.pred_probs is not None)
    if reason:
        return _not_measured(items, classes, reason, inputs, params)
    if inputs.pred_probs is not None:
        probs, source = user_probs(inputs.pred_probs, items, classes), "user-supplied"
    elif params.classifier == "cnn":
        if inputs.load_images is None:
            raise MissingArtifactError("label_quality.classifier 'cnn' needs the images (--data).")
        images = inputs.load_images(items["sample_id"].tolist())
        probs = out_of_fold_cnn_probs(images, y, groups, params, inputs.device)
        k = n_folds(y, groups, params)
        source = f"{k}-fold CNN trained on the images ({params.cnn_image_size} px)"
    elif inputs.embeddings is not None:
        ids, vectors = inputs.embeddings
        row = {sid: k for k, sid in enumerate(ids)}
        x = vectors[items["sample_id"].map(row).to_numpy()]
        probs = out_of_fold_probs(x, y, groups, params)
        source = f"{n_folds(y, groups, params)}-fold {params.classifier} on the embeddings"
    else:
        raise MissingArtifactError(
            f"label_quality.classifier {params.classifier!r} needs the embeddings: run "
            "`curator embed` first (or `dvc repro`)."
        )
    ranking = (
        label_evidence.choose_ranking(y, probs, _votes(inputs.annotations, items, classes))
        if params.ranked_by == "auto"
        else {"method": params.ranked_by, "chosen_by": "label_quality.ranked_by"}
    )
    method = ranking["method"]
    evidence = label_evidence.judge(
        y,
        probs,
        score_fn=lambda labels: get_label_quality_scores(labels, probs, method=method),
        flag_fn=lambda labels: find_label_issues(labels, probs, filter_by=params.filter_by),
        noise_fn=lambda labels, p: noise_rates(labels, p, classes)["overall"],
        settings={
            "source": "user"
            if inputs.pred_probs is not None
            else "cnn"
            if params.classifier == "cnn"
            else "embeddings",
            "plant_fraction": params.plant_fraction,
            "min_planted_auc": params.min_planted_auc,
            "n_bootstrap": params.n_bootstrap,
            "ci_level": params.ci_level,
        },
        rng=np.random.default_rng(params.seed),
    )
    flagged = find_label_issues(y, probs, filter_by=params.filter_by)
    quality = get_label_quality_scores(y, probs, method=method)
    suggested = probs.argmax(axis=1)
    table = items[["sample_id", "path", "split"]].assign(
        given_label=items["label"],
        suggested_label=[classes[k] for k in suggested],
        p_given=probs[np.arange(len(y)), y],
        p_suggested=probs.max(axis=1),
        label_quality=quality,
        # a probability only where the evidence check passed; the place in the ranking always
        p_label_wrong=evidence.pop("p_wrong") if evidence["supported"] else np.nan,
        review_order=evidence.pop("order"),
        is_label_issue=flagged,
    )
    supported = evidence["supported"]
    severity = "p_label_wrong" if supported else "review_order"
    flags = make_flags(
        [
            {
                "sample_id": r.sample_id,
                "path": r.path,
                "issue": "label_issue",
                "score": float(getattr(r, severity)),
                "detail": f"labelled {r.given_label!r}; out-of-sample probabilities say "
                f"{r.suggested_label!r} ({r.p_suggested:.2f}; {r.p_given:.2f} for the given "
                "label); "
                + (
                    f"estimated probability the label is wrong {r.p_label_wrong:.2f}"
                    if supported
                    else "weak evidence: a review candidate, no probability stated"
                ),
            }
            for r in table[table["is_label_issue"]].itertuples()
        ]
    )
    summary = _summary(table, items, y, probs, classes, source, evidence, inputs, params)
    summary["ranking"] = ranking
    # headline number for `dvc metrics`: None when the evidence cannot support a count
    metrics = {"label_issues": summary["n_label_issues"]}
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


def _votes(
    annotations: pd.DataFrame | None, items: pd.DataFrame, classes: list[str]
) -> list[np.ndarray] | None:
    """Each image's annotators' votes as class indices (votes for a class the manifest does
    not have are left out), in the order of ``items``; None without annotations."""
    if annotations is None or annotations.empty:
        return None
    index = {c: k for k, c in enumerate(classes)}
    known = annotations.assign(k=annotations["label"].astype(str).map(index)).dropna(subset="k")
    by_path = known.groupby("path")["k"].apply(lambda v: v.to_numpy(np.int64))
    empty = np.zeros(0, np.int64)
    return [by_path.get(p, empty) for p in items["path"]]


def _not_measured(
    items: pd.DataFrame,
    classes: list[str],
    reason: str,
    inputs: CheckInputs,
    params: LabelQualityParams,
) -> CheckResult:
    """The result when no label can be judged: no flags, no probabilities, every number None,
    and the reason in the evidence record the reports read."""
    table = items[["sample_id", "path", "split"]].assign(
        given_label=items["label"],
        suggested_label=items["label"],
        p_given=np.nan,
        p_suggested=np.nan,
        label_quality=np.nan,
        p_label_wrong=np.nan,
        review_order=np.nan,
        is_label_issue=False,
    )
    none_ci = {"value": None, "ci": [None, None]}
    evidence = {
        "supported": False,
        "measured": False,
        "reasons": [reason],
        "to_fix": "nothing to fix in the labels' favour: no label could be judged",
        "planted": {"n": 0, "recall": None, "auc": None, "auc_corrected": None},
        "noise_rate": none_ci,
        "noise_rate_upper_bound": none_ci,
        "min_planted_auc": params.min_planted_auc,
    }
    summary = {
        "pred_probs_source": "none: " + reason,
        "out_of_fold": inputs.pred_probs is None,
        "accuracy_vs_given_labels": {"value": None, "ci": [None, None], "n": len(items)},
        "calibration_error": None,
        "n_images": len(items),
        "n_flagged": 0,
        "evidence": evidence,
        "n_label_issues": None,
        "estimated_noise_rate": None,
        "estimated_noise_rate_ci": None,
        "noise_rate_per_class": None,
        "confident_joint": None,
        "flagged_share_per_split": {},
        "flagged_share_per_subgroup": {},
    }
    probs_table = (
        items[["sample_id", "path"]]
        .iloc[:0]
        .assign(**{f"p_{c}": pd.Series(dtype=float) for c in classes})
    )
    return CheckResult(
        "label_quality",
        make_flags([]),
        summary,
        {"label_issues": None},
        vars(params),
        tables={"label_issues": table, "pred_probs": probs_table},
    )


def _summary(table, items, y, probs, classes, source, evidence, inputs, params) -> dict:
    """What the stage states: a count and a noise rate only when the evidence supports them."""
    supported = evidence["supported"]
    hits = int((probs.argmax(axis=1) == y).sum())
    low, high = jeffreys_interval([hits], [len(y)], params.ci_level)
    ece = expected_calibration_error(calibration_table(Scored(y, probs, top_k=1, bins=15)))
    rates = noise_rates(y, probs, classes) if supported else None
    share = lambda col: table.assign(g=col).groupby("g")["is_label_issue"].mean()  # noqa: E731
    return {
        "pred_probs_source": source,
        "out_of_fold": inputs.pred_probs is None,  # user-supplied probabilities: unknown
        "accuracy_vs_given_labels": {
            "value": hits / len(y),
            "ci": [float(low[0]), float(high[0])],
            "n": len(y),
        },
        "calibration_error": float(ece),
        "n_images": len(table),
        "n_flagged": int(table["is_label_issue"].sum()),
        "evidence": evidence,
        "n_label_issues": int(table["is_label_issue"].sum()) if supported else None,
        "estimated_noise_rate": evidence["noise_rate"]["value"] if supported else None,
        "estimated_noise_rate_ci": evidence["noise_rate"]["ci"] if supported else None,
        "noise_rate_per_class": rates["per_class"] if rates else None,
        "confident_joint": rates["joint"] if rates else None,
        # per split and subgroup: the share of images flagged for review there
        "flagged_share_per_split": share(table["split"]).to_dict(),
        "flagged_share_per_subgroup": {
            a: share(known_values(items[a])).to_dict()  # an unknown value is in no subgroup
            for a in params.subgroups
        },
    }
