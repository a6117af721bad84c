"""Evaluate stage: how good the model is, for whom, and how much data problems inflate it.

Scores the trained head's predictions on one split (``evaluate.split``): overall metrics with
bootstrap intervals, per-class scores, confusion matrix and calibration; every metric per
sensitive feature, per intersection and per k-means slice of the embedding space
(evaluation/subgroups.py); the same metrics without the images that leak from train and without
flagged label issues, beside the raw ones; and, next to each group's error rate, how noisy its
labels are and how much its annotators disagree.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import __version__, artifacts
from curator.checks.base import require_subgroups
from curator.errors import DataError
from curator.evaluation.confounding import adjusted_gap
from curator.evaluation.intervals import percentile_interval
from curator.evaluation.metrics import (
    HEADLINE,
    Scored,
    calibration_table,
    group_sums,
    metrics_from_sums,
    rounded,
)
from curator.evaluation.subgroups import (
    CONDITION_PREFIX,
    SLICE_GROUPING,
    Grouping,
    condition_groupings,
    evaluate_grouping,
    feature_groupings,
    reported_metrics,
)
from curator.io.progress import progress
from curator.io.sources import UNKNOWN
from curator.io.tables import (
    outputs_committed_together,
    read_json,
    read_parquet,
    write_csv,
    write_json,
    write_parquet,
)
from curator.params import EvaluateParams, Params
from curator.stages import embeddings_of

log = logging.getLogger(__name__)


@outputs_committed_together()
def run(params: Params, audits_dir: Path) -> dict[str, Any]:
    audits, p = Path(audits_dir), params.evaluate
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    require_subgroups(manifest, p.sensitive_features, "evaluate.sensitive_features")
    predictions = read_parquet(audits / artifacts.PREDICTIONS, "curator train")
    classes = read_json(audits / artifacts.MODEL_DIR / "model.json", "curator train")["classes"]
    issues = read_parquet(audits / artifacts.ISSUES, "curator issues")
    leakage = read_parquet(audits / artifacts.LEAKAGE, "curator duplicates")
    voted = read_parquet(audits / artifacts.CONSENSUS, "curator agreement")["path"]

    items = manifest[manifest["readable"]].reset_index(drop=True)
    if p.slices:
        items[SLICE_GROUPING] = _slices(audits, items, p)
    split, split_note = _evaluated_split(p.split, manifest, predictions)
    scored_rows = predictions[predictions["split"] == split]
    if scored_rows.empty:
        raise DataError(
            f"no predictions for split {split!r} in {audits / artifacts.PREDICTIONS}; set "
            f"evaluate.split to one of {sorted(predictions['split'].unique())}."
        )
    evaluated = scored_rows.merge(items.drop(columns=["split", "label"]), on=["path", "sample_id"])
    scored = Scored(
        y=evaluated["label"].map({c: k for k, c in enumerate(classes)}).to_numpy(),
        probs=evaluated[[f"p_{c}" for c in classes]].to_numpy(dtype=float),
        top_k=min(p.top_k, len(classes)),
        bins=p.calibration_bins,
    )
    leaked = evaluated["path"].isin(leakage.loc[leakage["twin_split"] == "train", "path"])
    label_issue = evaluated["path"].isin(issues.loc[issues["issue"] == "label_issue", "path"])

    in_eval = items["path"].isin(evaluated["path"]).to_numpy()
    groupings = feature_groupings(items, p.sensitive_features, p.max_intersection)
    if p.condition_bins:
        props = read_parquet(audits / artifacts.PROPERTIES, "curator properties")
        shift = read_parquet(audits / artifacts.SHIFT, "curator shift")[["path", "unlike_train"]]
        values = items[["sample_id", "path"]].merge(props, on="sample_id", how="left")
        values = values.merge(shift, on="path", how="left")
        values["shorter_side"] = np.minimum(items["width"], items["height"]).to_numpy(float)
        groupings += condition_groupings(values, in_eval, p.condition_bins)
    if p.slices:
        groupings.append(
            Grouping(SLICE_GROUPING, items[SLICE_GROUPING].astype(str), recorded=False)
        )
    quality = _quality_flags(items, issues, voted)
    rows, by_grouping, aligned_labels = [], {}, {}
    membership = pd.DataFrame({"path": evaluated["path"].to_numpy()})
    order = items.loc[in_eval, "path"].reset_index(drop=True)
    align = pd.Series(np.arange(len(order)), index=order).loc[evaluated["path"]].to_numpy()
    for grouping in progress(groupings, desc="evaluate: groupings", unit="grouping"):
        labels = grouping.labels[in_eval].reset_index(drop=True).iloc[align].reset_index(drop=True)
        aligned = Grouping(grouping.name, labels, grouping.recorded)
        aligned_labels[grouping.name] = labels
        membership[grouping.name] = labels.astype("string").to_numpy()  # <NA>: in no group
        group_rows, summary = evaluate_grouping(scored, aligned, classes, p)
        quality_rows = _quality_rows(grouping, quality, leaked, labels)
        rows += group_rows + quality_rows
        _attach_quality(summary, quality_rows)
        by_grouping[grouping.name] = summary
    if p.slices:
        by_grouping[SLICE_GROUPING]["descriptions"] = _describe_slices(items, p)
    _adjust_worst_groups(scored, aligned_labels, by_grouping, p)

    result = {
        "split": split,
        "split_note": split_note,
        "n": len(evaluated),
        "classes": classes,
        "overall": _overall(scored, classes, p),
        "data_quality_corrected": _corrected(
            scored, {"leaks": leaked, "label_issues": label_issue}, p
        ),
        "subgroups": by_grouping,
        "worst_group": _overall_worst(by_grouping),
        "params": vars(p),
        "curator_version": __version__,
    }
    write_parquet(pd.DataFrame(rows), audits / artifacts.SUBGROUPS)
    write_parquet(membership, audits / artifacts.EVALUATED_GROUPS)
    write_json(result, audits / artifacts.EVALUATION)
    write_json(_headline(result), audits / artifacts.metrics("evaluate"))
    _write_plots(audits, evaluated, scored, classes, rows)
    return result


def _evaluated_split(
    wanted: str, manifest: pd.DataFrame, predictions: pd.DataFrame
) -> tuple[str, str | None]:
    """evaluate.split; or val, with a note saying what that costs, when the data has no such
    split at all (only a train split: train carved val from it)."""
    if wanted in set(manifest["split"]) or "val" not in set(predictions["split"]):
        return wanted, None
    return "val", (
        f"the data has no {wanted!r} split, so the model is evaluated on val, which chose its "
        "training epoch (early stopping): every number here is optimistic. Hold out a "
        f"{wanted!r} split (or set evaluate.split) for numbers to trust"
    )


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    """The few numbers `dvc metrics show/diff` and `dvc exp show` compare across runs, all
    numbers with short names so the table fits a screen (the worst group's name, and every
    other value, are in evaluation.json)."""
    worst = result["worst_group"] or {}
    without_leaks = result["data_quality_corrected"].get("without_leaks") or {}
    return {
        "accuracy": result["overall"].get("accuracy"),
        "clean_accuracy": without_leaks.get("clean_accuracy"),  # without images leaked from train
        "worst_gap": worst.get("accuracy_gap_vs_rest"),
        "worst_n": worst.get("n"),
    }


def _slices(audits: Path, items: pd.DataFrame, p: EvaluateParams) -> pd.Series:
    """k-means (FAISS) on the embeddings of every image; each image's cluster as 'slice-NN'."""
    import faiss

    x = embeddings_of(audits, items["sample_id"])
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = min(p.slices, len(np.unique(x, axis=0)))
    kmeans = faiss.Kmeans(x.shape[1], k, niter=25, seed=p.seed, verbose=False)
    kmeans.train(x)
    _, assign = kmeans.index.search(x, 1)
    return pd.Series([f"slice-{c:02d}" for c in assign[:, 0]], index=items.index)


def _describe_slices(items: pd.DataFrame, p: EvaluateParams) -> dict[str, str]:
    """What each slice mostly holds (label and each sensitive feature), so a reader can name it."""
    out = {}
    for name, part in items.groupby(SLICE_GROUPING):
        bits = []
        for column in ("label", *p.sensitive_features):
            share = part[column].astype("string").fillna(UNKNOWN).value_counts(normalize=True)
            bits.append(f"{column} {share.index[0]} {share.iloc[0]:.0%}")
        out[str(name)] = f"{len(part)} images; " + ", ".join(bits)
    return out


def _quality_rows(grouping: Grouping, quality: dict, leaked: pd.Series, eval_labels) -> list[dict]:
    """Per group, over all its images: the share flagged as label issues, and among those the
    annotators voted on, the share where they disagree; over its evaluated images: the share
    leaking from train."""
    labels = grouping.labels
    rows = []
    for metric, (flagged, scope) in quality.items():
        for group in sorted(labels.dropna().unique()):
            inside = (labels == group).fillna(False).to_numpy() & scope
            rows.append(_rate_row(grouping.name, group, metric, flagged[inside]))
    for group in sorted(eval_labels.dropna().unique()):
        inside = (eval_labels == group).fillna(False).to_numpy()
        rows.append(_rate_row(grouping.name, group, "leak_rate", leaked[inside]))
    return rows


def _quality_flags(items: pd.DataFrame, issues: pd.DataFrame, voted: pd.Series) -> dict:
    """Per data-quality rate: (flagged, in scope) boolean arrays over ``items``."""

    def flagged(*names: str) -> np.ndarray:
        return items["path"].isin(issues.loc[issues["issue"].isin(names), "path"]).to_numpy()

    return {
        "label_issue_rate": (flagged("label_issue"), np.ones(len(items), dtype=bool)),
        "disagreement_rate": (
            flagged("low_agreement", "label_differs_from_consensus"),
            items["path"].isin(voted).to_numpy(),
        ),
    }


def _rate_row(grouping: str, group: str, metric: str, flags) -> dict:
    flags = np.asarray(flags, dtype=bool)
    value = float(flags.mean()) if len(flags) else np.nan
    return {
        "grouping": grouping,
        "group": str(group),
        "n": len(flags),
        "status": "ok" if len(flags) else "no samples",
        "metric": metric,
        "value": value,
        "ci_low": np.nan,
        "ci_high": np.nan,
    }


def _attach_quality(summary: dict, quality: list[dict]) -> None:
    for row in quality:
        entry = summary["groups"].get(row["group"])
        if entry is not None and np.isfinite(row["value"]):
            entry[row["metric"]] = round(row["value"], 6)
            entry[f"{row['metric']}_n"] = row["n"]


def _overall(s: Scored, classes: list[str], p: EvaluateParams) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix

    point, boots = group_sums(s, np.zeros(len(s.y), dtype=int), 1, p.n_bootstrap, p.seed)
    m = metrics_from_sums(point[0], s.n_classes, s.bins)
    mb = metrics_from_sums(boots[:, 0], s.n_classes, s.bins) if p.n_bootstrap else None
    out: dict[str, Any] = {"n": len(s.y)}
    shown = reported_metrics(s)
    for metric in shown:
        out[metric] = rounded(m[metric])
        if mb is not None:
            out[f"{metric}_ci"] = [rounded(v) for v in percentile_interval(mb[metric], p.ci_level)]
    out["top_k"] = s.top_k if "top_k_accuracy" in shown else None
    out["per_class"] = {
        cls: {
            "support": int(m["support"][k]),
            "precision": rounded(m["precision"][k]),
            "recall": rounded(m["recall"][k]),
            "f1": rounded(m["f1"][k]),
        }
        for k, cls in enumerate(classes)
    }
    out["confusion_matrix"] = confusion_matrix(s.y, s.pred, labels=range(len(classes))).tolist()
    out["calibration"] = calibration_table(s)
    return out


def _corrected(s: Scored, flags: dict[str, pd.Series], p: EvaluateParams) -> dict[str, Any]:
    """Headline metrics on all images, without each kind of flagged image, and without both.

    ``inflation`` is raw minus clean, bootstrapped on the same resamples: how much the flagged
    images lift the number a reader would otherwise quote."""
    masks = {name: f.to_numpy(dtype=bool) for name, f in flags.items()}
    masks["leaks_and_label_issues"] = np.logical_or.reduce(list(masks.values()))
    out: dict[str, Any] = {}
    for name, flagged in masks.items():
        point, boots = group_sums(s, flagged.astype(int), 2, p.n_bootstrap, p.seed)
        m = metrics_from_sums(point, s.n_classes, s.bins)
        total = metrics_from_sums(point.sum(axis=0), s.n_classes, s.bins)
        entry: dict[str, Any] = {"n_excluded": int(flagged.sum()), "n_kept": int((~flagged).sum())}
        if p.n_bootstrap:  # every metric of every resample, once per mask
            mb = metrics_from_sums(boots, s.n_classes, s.bins)
            tb = metrics_from_sums(boots.sum(axis=1), s.n_classes, s.bins)
        for metric in HEADLINE:
            entry[f"raw_{metric}"] = rounded(total[metric])
            entry[f"clean_{metric}"] = rounded(m[metric][0])
            entry[f"excluded_only_{metric}"] = rounded(m[metric][1])
            entry[f"inflation_{metric}"] = rounded(total[metric] - m[metric][0])
            if p.n_bootstrap:
                clean = mb[metric][:, 0]
                entry[f"clean_{metric}_ci"] = [
                    rounded(v) for v in percentile_interval(clean, p.ci_level)
                ]
                entry[f"inflation_{metric}_ci"] = [
                    rounded(v) for v in percentile_interval(tb[metric] - clean, p.ci_level)
                ]
        out[f"without_{name}"] = entry
    return out


def _adjust_worst_groups(
    s: Scored, labels: dict[str, pd.Series], by_grouping: dict[str, dict], p: EvaluateParams
) -> None:
    """For each sensitive feature's worst group: its gap adjusted for every other sensitive
    feature and image condition (evaluation/confounding.py), in its worst_group entry, with
    the factors that explain most of it in ``explained_by``."""
    others = [*p.sensitive_features, *(n for n in labels if n.startswith(CONDITION_PREFIX))]
    for feature in p.sensitive_features:
        worst = by_grouping[feature].get("worst_group")
        if worst is None:
            continue
        target = labels[feature]
        member = (target == worst["group"]).fillna(False).to_numpy()
        adjusted = {}
        for other in others:
            if other == feature:
                continue
            strata = labels[other].astype("string").mask(target.isna())  # both must be known
            found = adjusted_gap(s, member, strata, p)
            if found is not None:
                adjusted[other] = found
        worst["adjusted_for"] = adjusted
        worst["explained_by"] = [o for o, a in adjusted.items() if a.get("explains_most")]


def _overall_worst(by_grouping: dict[str, dict]) -> dict[str, Any] | None:
    """The worst group over the sensitive features and their intersections (not slices)."""
    candidates = [
        {"grouping": name} | summary["worst_group"]
        for name, summary in by_grouping.items()
        if name != SLICE_GROUPING and "worst_group" in summary
    ]
    return min(candidates, key=lambda w: w["accuracy"]) if candidates else None


def _write_plots(audits, evaluated, s: Scored, classes, rows) -> None:
    """CSV files behind `dvc plots show` (templates in dvc.yaml)."""
    confusion = pd.DataFrame(
        {"actual": evaluated["label"].to_numpy(), "predicted": [classes[k] for k in s.pred]}
    )
    write_csv(confusion, audits / artifacts.CONFUSION_PLOT)
    table = pd.DataFrame(rows, columns=["grouping", "group", "n", "status", "metric", "value"])
    acc = table[(table["metric"] == "accuracy") & table["value"].notna()]
    acc = acc.assign(group=acc["grouping"] + ": " + acc["group"])[["group", "value", "n"]]
    write_csv(acc.rename(columns={"value": "accuracy"}), audits / artifacts.GROUP_ACCURACY_PLOT)
    write_csv(pd.DataFrame(calibration_table(s)), audits / artifacts.CALIBRATION_PLOT)
