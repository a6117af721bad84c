"""The saved views `curator app` gives the FiftyOne dataset: one per issue type (most severe
first), duplicate clusters as groups (each cluster's members side by side; also flat, surest
cluster first), the review queue in priority order, the evaluated images each subgroup (sensitive
feature or intersection) gets wrong, and the Model Card's error galleries (with each image's
saliency map as a heatmap), the most confident mistake first."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from curator.io.fiftyone_dataset import import_fiftyone

REVIEW_QUEUE_VIEW = "review queue"
CLUSTERS_VIEW = "duplicate clusters"
CLUSTERS_FLAT_VIEW = "duplicate clusters, surest first"


def saved_views(
    table: pd.DataFrame, evaluation: dict | None, review: str | None = None
) -> dict[str, tuple[str, Callable]]:
    """name -> (description, dataset -> view). ``review``: what the review rounds so far say
    (labels corrected, wrong labels left, what the queue's next images would fix), which the
    review queue's description carries into the app."""
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
            "images to relabel, highest priority first"
            + (f"; reviews: {review}" if review else ""),
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
                        view = view.match(F(feature) == value)
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
