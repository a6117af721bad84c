"""The audit as a persistent FiftyOne dataset: one sample per file, every finding a tag.

``sync`` writes the app's table (curator/app/table.py) into a FiftyOne dataset idempotently:
samples are keyed by file path, only values that differ are written, curator's own tags are
replaced (a finding that disappeared loses its tag) while tags a person added in the app are
kept, and the embedding visualization is recomputed only when the vectors change. So a second
run with the same audit writes nothing.
FiftyOne is imported only here; the database is FiftyOne's own (bundled mongod, or the
``database_uri`` of its config for a shared MongoDB).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts

BRAIN_KEY = "curator_embeddings"
VIEW_PREFIX = "curator:"  # saved-view descriptions start with this, so stale ones can be found
REVIEW_TAG_PREFIX = "review:"  # samples pushed for review in the app (review/app_tool.py)
HEATMAPS = ("saliency",)  # (grid, grid) arrays shown as fo.Heatmap overlays
CLASSIFICATIONS = {
    "ground_truth": ("ground_truth", None),
    "prediction": ("predicted", "confidence"),
}
# columns that feed a Classification field rather than a field of their own
CLASSIFICATION_SOURCES = {c for columns in CLASSIFICATIONS.values() for c in columns if c}


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
    kept_under_review: int = 0  # ground_truth a reviewer changed in the app, not overwritten

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
    under_review = {
        fp
        for fp, tags in zip(current_fps, dataset.values("tags"), strict=True)
        if any(t.startswith(REVIEW_TAG_PREFIX) for t in tags)
    }
    for fo_field, (label_col, conf_col) in CLASSIFICATIONS.items():
        if label_col in rows.columns:
            keep = under_review if fo_field == "ground_truth" else set()
            _sync_classification(
                dataset, fo_field, rows, label_col, conf_col, current_fps, keep, report
            )
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


def _sync_classification(dataset, name, rows, label_col, conf_col, fps, keep, report) -> None:
    """Write the label (and confidence) that differ, except on samples in ``keep`` (under
    review in the app: a reviewer's edit waits there to be pulled)."""
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
        if fp in keep:
            report.kept_under_review += 1
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
