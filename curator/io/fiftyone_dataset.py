"""The audit as a persistent FiftyOne dataset: one sample per file, every finding a tag.

``sample_table`` joins the manifest with every audit output (pure pandas, no database).
``sync`` writes it into a FiftyOne dataset idempotently: samples are keyed by file path, only
values that differ are written, curator's own tags are replaced (a finding that disappeared
loses its tag) while tags a person added in the app are kept, and the embedding visualization is
recomputed only when the vectors change. So a second run with the same audit writes nothing.
FiftyOne is imported only here; the database is FiftyOne's own (bundled mongod, or the
``database_uri`` of its config for a shared MongoDB).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts
from curator.io.tables import cluster_of_path, read_json, read_parquet

BRAIN_KEY = "curator_embeddings"
VIEW_PREFIX = "curator:"  # saved-view descriptions start with this, so stale ones can be found
HEATMAPS = ("saliency",)  # (grid, grid) arrays shown as fo.Heatmap overlays
CLASSIFICATIONS = {
    "ground_truth": ("ground_truth", None),
    "prediction": ("predicted", "confidence"),
}
# columns that feed a Classification field rather than a field of their own
CLASSIFICATION_SOURCES = {c for columns in CLASSIFICATIONS.values() for c in columns if c}


def _optional(path: Path, produced_by: str) -> pd.DataFrame | None:
    return read_parquet(path, produced_by) if path.exists() else None


def sample_table(audits: Path, data_dir: Path) -> pd.DataFrame:
    """One row per file of the manifest with every field the app shows, and its tags."""
    audits = Path(audits)
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    reserved = {"sample_id", "path", "split", "label", "readable", "error"}
    meta = [
        c
        for c in read_json(audits / artifacts.INGEST_SUMMARY, "curator ingest").get(
            "metadata_columns", []
        )
        if c in manifest.columns and c not in reserved
    ]
    t = manifest[["path", "sample_id", "split", "label", "readable", *meta]].copy()
    t = t.rename(columns={"label": "ground_truth"})
    t.insert(0, "filepath", [str((Path(data_dir) / p).resolve()) for p in t["path"]])

    hashes = _optional(audits / artifacts.HASHES, "curator hash")
    if hashes is not None:
        hexed = hashes.assign(
            **{h: hashes[h].map(lambda v: f"{int(v):016x}") for h in ("phash", "dhash", "whash")}
        )
        t = t.merge(hexed, on="sample_id", how="left")
    preds = _optional(audits / artifacts.PREDICTIONS, "curator train")
    if preds is not None:
        t = t.merge(preds[["path", "predicted", "confidence"]], on="path", how="left")
    labels = _optional(audits / artifacts.LABEL_ISSUES, "curator label-quality")
    if labels is not None:  # the estimated probability that the label is wrong, every image
        labels = labels.assign(label_issue_score=labels["p_label_wrong"])
        t = t.merge(
            labels[["path", "label_quality", "label_issue_score", "suggested_label"]],
            on="path",
            how="left",
        )
    consensus = _optional(audits / artifacts.CONSENSUS, "curator agreement")
    if consensus is not None and len(consensus):
        t = t.merge(
            consensus[["path", "consensus_label", "consensus_confidence", "vote_agreement"]],
            on="path",
            how="left",
        )
        votes = read_parquet(audits / artifacts.ANNOTATIONS, "curator ingest")
        votes = votes.groupby("path").apply(
            lambda v: sorted(
                f"{a}: {lab}" for a, lab in zip(v["annotator"], v["label"], strict=True)
            ),
            include_groups=False,
        )
        t["annotator_votes"] = t["path"].map(votes)
    leakage = _optional(audits / artifacts.LEAKAGE, "curator duplicates")
    if leakage is not None:
        best = leakage.sort_values("score", ascending=False).drop_duplicates("path")
        t = t.merge(
            best[["path", "score", "twin_path"]].rename(
                columns={"score": "leak_similarity", "twin_path": "leak_twin"}
            ),
            on="path",
            how="left",
        )
    pairs = _optional(audits / artifacts.DUPLICATES, "curator duplicates")
    if pairs is not None:
        cluster = cluster_of_path(pairs).rename("cluster_id").reset_index()
        # a cluster is as sure as its surest pair; rank 0 is the surest (ties by cluster id),
        # what the flat cluster view is sorted by
        best = pairs.groupby("cluster_id")["score"].max()
        rank = best.rank(method="first", ascending=False).astype(int) - 1
        cluster["duplicate_cluster_score"] = cluster["cluster_id"].map(best)
        cluster["duplicate_cluster_rank"] = cluster["cluster_id"].map(rank)
        t = t.merge(
            cluster.rename(columns={"cluster_id": "duplicate_cluster"}), on="path", how="left"
        )
    queue = _optional(audits / artifacts.REVIEW_QUEUE, "curator issues")
    if queue is not None:
        t = t.merge(
            queue[["path", "rank", "priority"]].rename(
                columns={"rank": "review_rank", "priority": "review_priority"}
            ),
            on="path",
            how="left",
        )
    errors = _optional(audits / artifacts.ERRORS, "curator errors")
    if errors is not None and len(errors):
        maps = {
            row.path: np.asarray(row.saliency, np.float32).reshape(row.saliency_shape)
            for row in errors.itertuples()
        }
        t["saliency"] = t["path"].map(maps)
        t["error_galleries"] = t["path"].map(errors.set_index("path")["galleries"].map(list))
    # merges with gaps made them floats
    for column in ("review_rank", "duplicate_cluster", "duplicate_cluster_rank"):
        if column in t:
            t[column] = t[column].astype("Int64")
    issues = read_parquet(audits / artifacts.ISSUES, "curator issues")
    tags = issues.groupby("path")["issue"].agg(lambda s: sorted(set(s)))
    t["tags"] = [tags.get(p, []) for p in t["path"]]
    scores = issues.pivot_table(index="path", columns="issue", values="score", aggfunc="max")
    for issue in scores.columns:  # <issue>_score: what each issue view is sorted by
        if f"{issue}_score" not in t:
            t[f"{issue}_score"] = t["path"].map(scores[issue])
    return t.drop(columns=["path"]).reset_index(drop=True)


@dataclass
class SyncReport:
    """What a sync changed (all zero/empty on a second run with the same audit)."""

    dataset: str
    added: int = 0
    removed: int = 0
    fields: dict[str, int] = field(default_factory=dict)
    tags_changed: int = 0
    views_saved: list[str] = field(default_factory=list)
    views_deleted: list[str] = field(default_factory=list)
    visualization: str | None = None

    @property
    def changed(self) -> bool:
        return bool(
            self.added
            or self.removed
            or self.fields
            or self.tags_changed
            or self.views_saved
            or self.views_deleted
            or self.visualization
        )


def _clean(value: Any) -> Any:
    """pandas/numpy scalars -> what FiftyOne stores (None for missing)."""
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def import_fiftyone():
    """fiftyone, imported with its telemetry off unless the user set FIFTYONE_DO_NOT_TRACK."""
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    import fiftyone

    return fiftyone


def load_or_create(name: str):
    fo = import_fiftyone()

    if fo.dataset_exists(name):
        return fo.load_dataset(name)
    dataset = fo.Dataset(name)
    dataset.persistent = True
    return dataset


def sync(
    name: str,
    table: pd.DataFrame,
    views: dict[str, Any],
    embeddings: tuple[list[str], np.ndarray] | None,
    visualization: str,
    seed: int,
) -> SyncReport:
    """Make dataset ``name`` match ``table``, ``views`` and ``embeddings``; write only changes."""
    fo = import_fiftyone()

    dataset = load_or_create(name)
    report = SyncReport(name)
    wanted = set(table["filepath"])
    present = set(dataset.values("filepath"))
    stale = present - wanted
    if stale:
        dataset.delete_samples(dataset.match(fo.ViewField("filepath").is_in(sorted(stale))))
        report.removed = len(stale)
    new = table.loc[~table["filepath"].isin(present), "filepath"]
    if len(new):
        dataset.add_samples([fo.Sample(filepath=fp) for fp in new])
        report.added = len(new)

    rows = table.set_index("filepath")
    current_fps = dataset.values("filepath")
    special = {"tags", *CLASSIFICATION_SOURCES, *HEATMAPS}
    for column in [c for c in rows.columns if c not in special]:
        _sync_field(dataset, column, rows[column], current_fps, report)
    for column in [c for c in HEATMAPS if c in rows.columns]:
        _sync_heatmap(dataset, column, rows[column], current_fps, report)
    for fo_field, (label_col, conf_col) in CLASSIFICATIONS.items():
        if label_col in rows.columns:
            _sync_classification(dataset, fo_field, rows, label_col, conf_col, current_fps, report)
    _sync_tags(dataset, rows["tags"], current_fps, report)
    missing = dataset.exists("metadata", False).match({"readable": True})
    n_missing = len(missing)
    if n_missing:  # width, height, size and type for the app (unreadable files stay None)
        missing.compute_metadata(progress=False)
        report.fields["metadata"] = n_missing
    _sync_views(dataset, views, report)
    if embeddings is not None:
        _sync_visualization(dataset, embeddings, visualization, seed, report)
    return report


def _sync_field(dataset, column: str, desired: pd.Series, fps: list[str], report) -> None:
    have = dict(zip(fps, dataset.values(column), strict=True)) if dataset.has_field(column) else {}
    changed = {}
    for fp, value in desired.items():
        value = _clean(value)
        if have.get(fp) != value and not (value is None and fp not in have):
            changed[fp] = value
    if column not in have and all(v is None for v in changed.values()):
        return
    if changed:
        dataset.set_values(column, changed, key_field="filepath")
        report.fields[column] = len(changed)


def _sync_classification(dataset, name, rows, label_col, conf_col, fps, report) -> None:
    fo = import_fiftyone()

    have_label = (
        dict(zip(fps, dataset.values(f"{name}.label"), strict=True))
        if dataset.has_field(name)
        else {}
    )
    have_conf = (
        dict(zip(fps, dataset.values(f"{name}.confidence"), strict=True))
        if dataset.has_field(name) and conf_col
        else {}
    )
    changed = {}
    for fp, row in rows.iterrows():
        label = _clean(row[label_col])
        conf = _clean(row[conf_col]) if conf_col else None
        if have_label.get(fp) == label and have_conf.get(fp) == conf:
            continue
        if label is None and fp not in have_label:
            continue
        changed[fp] = (
            None if label is None else fo.Classification(label=str(label), confidence=conf)
        )
    if changed:
        dataset.set_values(name, changed, key_field="filepath")
        report.fields[name] = len(changed)


def _sync_heatmap(dataset, name: str, desired: pd.Series, fps: list[str], report) -> None:
    """A fo.Heatmap per sample whose map is given (the app draws it over the image, red where
    the value is high); None elsewhere."""
    fo = import_fiftyone()

    have = (
        dict(zip(fps, dataset.values(f"{name}.map"), strict=True))
        if dataset.has_field(name)
        else {}
    )
    changed: dict[str, Any] = {}
    for fp, value in desired.items():
        old = have.get(fp)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            if old is not None:
                changed[fp] = None
            continue
        if old is not None and np.array_equal(np.asarray(old), value):
            continue
        peak = float(np.abs(value).max()) or 1.0
        changed[fp] = fo.Heatmap(map=value, range=[0.0, peak])
    if changed:
        dataset.set_values(name, changed, key_field="filepath")
        report.fields[name] = len(changed)


def _sync_tags(dataset, desired: pd.Series, fps: list[str], report) -> None:
    have = dict(zip(fps, dataset.values("tags"), strict=True))
    changed = {}
    for fp, ours in desired.items():  # keep a person's own tags
        keep = [t for t in have.get(fp, []) if t not in artifacts.ISSUE_NAMES]
        tags = sorted(set(keep) | set(ours))
        if tags != sorted(have.get(fp, [])):
            changed[fp] = tags
    if changed:
        dataset.set_values("tags", changed, key_field="filepath")
        report.tags_changed = len(changed)


def _sync_views(dataset, views: dict[str, tuple[str, Any]], report) -> None:
    for name, (description, build) in views.items():
        view = build(dataset)
        text = f"{VIEW_PREFIX} {description}"
        if dataset.has_saved_view(name):
            same_stages = _stages(dataset.load_saved_view(name)) == _stages(view)
            if same_stages and dataset.get_saved_view_info(name).get("description") == text:
                continue
        dataset.save_view(name, view, description=text, overwrite=True)
        report.views_saved.append(name)
    for name in dataset.list_saved_views():
        info = dataset.get_saved_view_info(name)
        if (info.get("description") or "").startswith(VIEW_PREFIX) and name not in views:
            dataset.delete_saved_view(name)
            report.views_deleted.append(name)


def _stages(view) -> list[dict]:
    """A view's stages without their random ids, for comparing two views."""
    return [{k: v for k, v in stage.items() if k != "_uuid"} for stage in view._serialize()]


def _sync_visualization(dataset, embeddings, method: str, seed: int, report) -> None:
    """A 2-D map of our own vectors for the app's Embeddings panel (FiftyOne Brain)."""
    import fiftyone.brain as fob

    ids, vectors = embeddings
    row = {s: i for i, s in enumerate(ids)}
    view = dataset.exists("sample_id").match({"sample_id": {"$in": list(row)}})
    order = view.values("sample_id")
    x = vectors[[row[s] for s in order]]
    method = _visualization_method(method)
    key = hashlib.sha256(
        x.tobytes() + "|".join(view.values("filepath")).encode() + method.encode()
    ).hexdigest()
    if BRAIN_KEY in dataset.list_brain_runs() and dataset.info.get(BRAIN_KEY) == key:
        return
    if BRAIN_KEY in dataset.list_brain_runs():
        dataset.delete_brain_run(BRAIN_KEY)
    kwargs = {"seed": seed} if method in ("umap", "tsne") else {}
    fob.compute_visualization(
        view,
        embeddings=x,
        method=method,
        brain_key=BRAIN_KEY,
        num_dims=2,
        progress=False,
        **kwargs,
    )
    dataset.info[BRAIN_KEY] = key
    dataset.save()
    report.visualization = method


def _visualization_method(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        import umap  # noqa: F401
    except ImportError:
        return "pca"
    return "umap"
