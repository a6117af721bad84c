"""`curator app` and `curator export`: the audit in the FiftyOne app, and flagged subsets out.

Saved views: one per issue type (most severe first), duplicate clusters as groups (each
cluster's members side by side; also flat, surest cluster first), the review queue in priority
order, the evaluated images each subgroup (sensitive feature or intersection) gets wrong, and
the Model Card's error galleries (with each image's saliency map as a heatmap), the most
confident mistake first.
FiftyOne is imported lazily, with its telemetry off unless the user turned it on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from curator import artifacts
from curator.errors import ConfigError
from curator.io.fiftyone_dataset import (
    SyncReport,
    import_fiftyone,
    load_or_create,
    sample_table,
    sync,
)
from curator.io.tables import read_json
from curator.params import Params
from curator.stages import load_embeddings
from curator.subgroups import MISSING

REVIEW_QUEUE_VIEW = "review queue"
CLUSTERS_VIEW = "duplicate clusters"
CLUSTERS_FLAT_VIEW = "duplicate clusters, surest first"
EXPORT_FORMATS = ("fiftyone", "classification-tree", "csv")


def dataset_name(params: Params, data_dir: Path) -> str:
    """params app.dataset, else 'curator-<project folder>'."""
    return params.app.dataset or f"curator-{Path(data_dir).resolve().parent.name}"


def saved_views(table: pd.DataFrame, evaluation: dict | None) -> dict[str, tuple[str, Callable]]:
    """name -> (description, dataset -> view)."""
    F = import_fiftyone().ViewField

    views: dict[str, tuple[str, Callable]] = {}
    for issue in sorted({t for tags in table["tags"] for t in tags}):
        views[f"issue: {issue}"] = (
            f"images flagged '{issue}', most severe first",
            lambda ds, issue=issue: ds.match_tags(issue).sort_by(f"{issue}_score", reverse=True),
        )
    if "duplicate_cluster" in table and table["duplicate_cluster"].notna().any():
        views[CLUSTERS_VIEW] = (
            "every cluster of twins as one group: open it to see its members side by side",
            lambda ds: ds.exists("duplicate_cluster").group_by(
                "duplicate_cluster", order_by="filepath"
            ),
        )
        views[CLUSTERS_FLAT_VIEW] = (
            "the members of each cluster next to each other, surest clusters first",
            lambda ds: ds.exists("duplicate_cluster").group_by(
                "duplicate_cluster",
                order_by="filepath",
                flat=True,
                sort_expr=F("duplicate_cluster_rank").min(),
            ),
        )
    if "review_rank" in table and table["review_rank"].notna().any():
        views[REVIEW_QUEUE_VIEW] = (
            "images to relabel, highest priority first",
            lambda ds: ds.exists("review_rank").sort_by("review_rank"),
        )
    if evaluation:
        split = evaluation["split"]
        for grouping, summary in evaluation["subgroups"].items():
            if not summary["recorded"]:
                continue  # slices and image-condition bins are no sample fields to match on
            features = grouping.split(" x ")
            for group in summary["groups"]:
                values = group.split(" | ")

                def build(ds, features=features, values=values, split=split):
                    view = ds.match((F("split") == split) & F("prediction").exists())
                    view = view.match(F("prediction.label") != F("ground_truth.label"))
                    for feature, value in zip(features, values, strict=True):
                        view = view.match(F(feature) == (None if value == MISSING else value))
                    return view.sort_by("prediction.confidence", reverse=True)

                views[f"errors: {grouping}={group}"] = (
                    f"{split} images of {grouping}={group} the model gets wrong, most "
                    "confident mistake first",
                    build,
                )
    if "error_galleries" in table:
        titles = sorted({t for ts in table["error_galleries"].dropna() for t in ts})
        for title in titles:
            views[f"error gallery: {title}"] = (
                f"the Model Card's error gallery {title}, most confident mistake first, "
                "with its saliency map (field saliency)",
                lambda ds, title=title: ds.match(F("error_galleries").contains(title)).sort_by(
                    "prediction.confidence", reverse=True
                ),
            )
    return views


def build(params: Params, data_dir: Path, audits_dir: Path) -> SyncReport:
    """Create or refresh the persistent dataset from audits/ (idempotent)."""
    audits = Path(audits_dir)
    table = sample_table(audits, Path(data_dir))
    evaluation_file = audits / artifacts.EVALUATION
    evaluation = (
        read_json(evaluation_file, "curator evaluate") if evaluation_file.exists() else None
    )
    embeddings = None
    if params.app.visualization != "none" and (audits / artifacts.EMBED_VECTORS).exists():
        embeddings = load_embeddings(audits)
    return sync(
        dataset_name(params, data_dir),
        table,
        saved_views(table, evaluation),
        embeddings,
        params.app.visualization,
        params.app.seed,
    )


def launch(params: Params, name: str, port: int | None) -> Any:
    """Serve the app on the configured address (127.0.0.1 by default) and return the session."""
    fo = import_fiftyone()

    dataset = load_or_create(name)
    return fo.launch_app(
        dataset, address=params.app.address, port=port or params.app.port, remote=True
    )


def export(params: Params, name: str, view_name: str, fmt: str, out: Path) -> int:
    """Export a saved view (e.g. 'review queue', 'issue: label_issue') for annotators, with
    FiftyOne's exporters; returns the number of images written."""
    fo = import_fiftyone()

    dataset = load_or_create(name)
    if not dataset.has_saved_view(view_name):
        raise ConfigError(
            f"dataset {name!r} has no saved view {view_name!r}; run `curator app --no-launch` "
            f"first, or pick one of: {', '.join(dataset.list_saved_views()) or 'none'}."
        )
    view = dataset.load_saved_view(view_name)
    if fmt == "fiftyone":
        view.export(export_dir=str(out), dataset_type=fo.types.FiftyOneDataset)
    elif fmt == "classification-tree":
        view.export(
            export_dir=str(out),
            dataset_type=fo.types.ImageClassificationDirectoryTree,
            label_field="ground_truth",
        )
    else:
        fields = [f for f in CSV_FIELDS if view.has_field(f.split(".")[0])]
        view.export(
            export_dir=str(out),
            dataset_type=fo.types.CSVDataset,
            fields=fields,
            export_media=False,
            abs_paths=True,
        )
    return len(view)


CSV_FIELDS = (
    "filepath",
    "sample_id",
    "split",
    "ground_truth.label",
    "suggested_label",
    "consensus_label",
    "review_rank",
    "review_priority",
    "label_issue_score",
    "tags",
)
