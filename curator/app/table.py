"""The app's table: one row per file of the manifest with every field the app shows, and its
tags, joined from the audit outputs (pure pandas, no database). Each audit output that is there
adds its columns; one that is missing (a stage not run yet) adds none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from curator import artifacts
from curator.io.tables import cluster_of_path, read_json, read_parquet

# merges with gaps make these floats; they are integers or missing
INTEGER_COLUMNS = ("review_rank", "duplicate_cluster", "duplicate_cluster_rank")


def _optional(path: Path, produced_by: str) -> pd.DataFrame | None:
    return read_parquet(path, produced_by) if path.exists() else None


def sample_table(audits: Path, data_dir: Path) -> pd.DataFrame:
    """One row per file of the manifest with every field the app shows, and its tags."""
    audits = Path(audits)
    t = _manifest_fields(audits, Path(data_dir))
    for add in (_hashes, _predictions, _label_quality, _consensus, _leakage, _clusters, _queue):
        t = add(t, audits)
    t = _error_galleries(t, audits)
    for column in INTEGER_COLUMNS:
        if column in t:
            t[column] = t[column].astype("Int64")
    t = _tags_and_scores(t, audits)
    return t.drop(columns=["path"]).reset_index(drop=True)


def _manifest_fields(audits: Path, data_dir: Path) -> pd.DataFrame:
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    reserved = {"sample_id", "path", "split", "label", "readable", "error"}
    meta = [
        c
        for c in read_json(audits / artifacts.INGEST_SUMMARY, "curator ingest").get(
            "metadata_columns", []
        )
        if c in manifest.columns and c not in reserved
    ]
    # a label reviewers corrected shows its given one and how it was reviewed
    reviewed = [c for c in ("original_label", "label_source", "review") if c in manifest]
    t = manifest[["path", "sample_id", "split", "label", "readable", *meta, *reviewed]].copy()
    t = t.rename(columns={"label": "ground_truth"})
    t.insert(0, "filepath", [str((data_dir / p).resolve()) for p in t["path"]])
    return t


def _hashes(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    hashes = _optional(audits / artifacts.HASHES, "curator hash")
    if hashes is None:
        return t
    hexed = hashes.assign(
        **{h: hashes[h].map(lambda v: f"{int(v):016x}") for h in ("phash", "dhash", "whash")}
    )
    return t.merge(hexed, on="sample_id", how="left")


def _predictions(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    preds = _optional(audits / artifacts.PREDICTIONS, "curator train")
    if preds is None:
        return t
    return t.merge(preds[["path", "predicted", "confidence"]], on="path", how="left")


def _label_quality(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    """The estimated probability that the label is wrong, for every image."""
    labels = _optional(audits / artifacts.LABEL_ISSUES, "curator label-quality")
    if labels is None:
        return t
    # the probability the label is wrong where the evidence supports one, else the ranking
    labels = labels.assign(label_issue_score=labels["p_label_wrong"].fillna(labels["review_order"]))
    columns = ["path", "label_quality", "label_issue_score", "suggested_label"]
    return t.merge(labels[columns], on="path", how="left")


def _consensus(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    consensus = _optional(audits / artifacts.CONSENSUS, "curator agreement")
    if consensus is None or not len(consensus):
        return t
    columns = ["path", "consensus_label", "consensus_confidence", "vote_agreement"]
    t = t.merge(consensus[columns], on="path", how="left")
    votes = read_parquet(audits / artifacts.ANNOTATIONS, "curator ingest")
    votes = votes.groupby("path").apply(
        lambda v: sorted(f"{a}: {lab}" for a, lab in zip(v["annotator"], v["label"], strict=True)),
        include_groups=False,
    )
    t["annotator_votes"] = t["path"].map(votes)
    return t


def _leakage(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    leakage = _optional(audits / artifacts.LEAKAGE, "curator duplicates")
    if leakage is None:
        return t
    best = leakage.sort_values("score", ascending=False).drop_duplicates("path")
    best = best[["path", "score", "twin_path"]].rename(
        columns={"score": "leak_similarity", "twin_path": "leak_twin"}
    )
    return t.merge(best, on="path", how="left")


def _clusters(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    pairs = _optional(audits / artifacts.DUPLICATES, "curator duplicates")
    if pairs is None:
        return t
    cluster = cluster_of_path(pairs).rename("cluster_id").reset_index()
    # a cluster is as sure as its surest pair; rank 0 is the surest (ties by cluster id), what
    # the flat cluster view is sorted by
    best = pairs.groupby("cluster_id")["score"].max()
    rank = best.rank(method="first", ascending=False).astype(int) - 1
    cluster["duplicate_cluster_score"] = cluster["cluster_id"].map(best)
    cluster["duplicate_cluster_rank"] = cluster["cluster_id"].map(rank)
    return t.merge(
        cluster.rename(columns={"cluster_id": "duplicate_cluster"}), on="path", how="left"
    )


def _queue(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    queue = _optional(audits / artifacts.REVIEW_QUEUE, "curator issues")
    if queue is None:
        return t
    ranks = queue[["path", "rank", "priority"]].rename(
        columns={"rank": "review_rank", "priority": "review_priority"}
    )
    return t.merge(ranks, on="path", how="left")


def _error_galleries(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    """Each gallery image's saliency map (a heatmap in the app) and the galleries it is in."""
    errors = _optional(audits / artifacts.ERRORS, "curator errors")
    if errors is None or not len(errors):
        return t
    maps = {
        row.path: np.asarray(row.saliency, np.float32).reshape(row.saliency_shape)
        for row in errors.itertuples()
    }
    t["saliency"] = t["path"].map(maps)
    t["error_galleries"] = t["path"].map(errors.set_index("path")["galleries"].map(list))
    return t


def _tags_and_scores(t: pd.DataFrame, audits: Path) -> pd.DataFrame:
    """Every issue of an image as a tag, and ``<issue>_score``: what each issue view sorts by."""
    issues = read_parquet(audits / artifacts.ISSUES, "curator issues")
    tags = issues.groupby("path")["issue"].agg(lambda s: sorted(set(s)))
    t["tags"] = [tags.get(p, []) for p in t["path"]]
    scores = issues.pivot_table(index="path", columns="issue", values="score", aggfunc="max")
    for issue in scores.columns:
        if f"{issue}_score" not in t:
            t[f"{issue}_score"] = t["path"].map(scores[issue])
    return t
