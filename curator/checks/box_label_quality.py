"""Box label errors from the user's detector: overlooked objects, swapped classes, badly placed
boxes (cleanlab's ObjectLab, Tkachenko et al. 2023), each named box by box.

cleanlab scores every given box for a swapped class and a bad location, and every confident
predicted box for an object nobody boxed, and flags a box when its score falls under its
class's threshold (the class's AP times a factor: a class the detector finds badly needs
stronger evidence). cleanlab's public entry point says only which images hold an issue; the
per-box decision below uses the same steps (its internal helpers, the versions pinned in
constraints.txt), and the tests check that the images it flags are exactly the images
cleanlab's ``find_label_issues`` flags. One addition: a confident predicted box that no given
box overlaps at IoU 0.5 is overlooked too (COCO's matching rule), which ObjectLab misses in
crowded images. The predictions must be out-of-sample: a detector that trained on an image has
learnt its mistakes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.checks.base import CheckInputs, CheckResult, make_flags
from curator.checks.boxes import issue_rows
from curator.params import DetectionParams

KINDS = ("box_overlooked", "box_swapped", "box_badly_located")
LABEL_ERROR_COLUMNS = ("path", "box_id", "label", "issue", "score", "other_box_id", "detail")


def cleanlab_inputs(
    boxes: pd.DataFrame, preds: pd.DataFrame, paths: list[str], classes: tuple[str, ...]
) -> tuple[list[dict], list[np.ndarray], list[pd.DataFrame], list[pd.DataFrame]]:
    """cleanlab's labels and predictions for ``paths``, with the rows of ``boxes`` and ``preds``
    each image's entries come from (in cleanlab's order), to name what it scores."""
    index = {c: k for k, c in enumerate(classes)}
    corners = ["x0", "y0", "x1", "y1"]
    by_box = dict(tuple(boxes.groupby("path", sort=False)))
    by_pred = dict(tuple(preds.groupby("path", sort=False)))
    empty_boxes, empty_preds = boxes.iloc[:0], preds.iloc[:0]
    labels, predictions, box_rows, pred_rows = [], [], [], []
    for path in paths:
        b = by_box.get(path, empty_boxes).sort_values("box_id")
        labels.append(
            {
                "bboxes": b[corners].to_numpy(float).reshape(-1, 4),
                "labels": b["label"].map(index).to_numpy(int),
            }
        )
        p = by_pred.get(path, empty_preds)
        per_class = []
        ordered = []
        for c in classes:
            mine = p[p["label"] == c]
            ordered.append(mine)
            per_class.append(mine[[*corners, "score"]].to_numpy(float).reshape(-1, 5))
        predictions.append(np.array(per_class, dtype=object))
        box_rows.append(b)
        pred_rows.append(pd.concat(ordered) if ordered else empty_preds)
    return labels, predictions, box_rows, pred_rows


def per_box_issues(labels: list[dict], predictions: list[np.ndarray]) -> dict[str, tuple]:
    """{kind: (scores per image, issue masks per image)}: overlooked per predicted box,
    swapped and badly located per given box; cleanlab's steps in ``find_label_issues``
    (label_errors adds unmatched confident boxes to the overlooked ones)."""
    from cleanlab.internal import constants as k
    from cleanlab.object_detection import filter as f
    from cleanlab.object_detection import rank as r

    aux = r._get_valid_inputs_for_compute_scores(k.ALPHA, labels, predictions)
    per_class_ap = f._get_per_class_ap(labels, predictions)
    label_classes = [r._separate_label(lab)[1] for lab in labels]
    pred_classes = [r._separate_prediction(p)[1] for p in predictions]
    label_thresholds = f._process_class_list(label_classes, per_class_ap)
    pred_thresholds = f._process_class_list(pred_classes, per_class_ap)
    scores = {
        "box_overlooked": r.compute_overlooked_box_scores(
            alpha=k.ALPHA,
            high_probability_threshold=k.HIGH_PROBABILITY_THRESHOLD,
            auxiliary_inputs=aux,
        ),
        "box_badly_located": r.compute_badloc_box_scores(
            alpha=k.ALPHA,
            low_probability_threshold=k.LOW_PROBABILITY_THRESHOLD,
            auxiliary_inputs=aux,
        ),
        "box_swapped": r.compute_swap_box_scores(
            alpha=k.ALPHA,
            high_probability_threshold=k.HIGH_PROBABILITY_THRESHOLD,
            overlapping_label_check=True,
            auxiliary_inputs=aux,
        ),
    }
    thresholds = {
        "box_overlooked": (pred_thresholds, k.OVERLOOKED_THRESHOLD_FACTOR),
        "box_badly_located": (label_thresholds, k.BADLOC_THRESHOLD_FACTOR),
        "box_swapped": (label_thresholds, k.SWAP_THRESHOLD_FACTOR),
    }
    out = {}
    for kind, per_image in scores.items():
        kept = [s.copy() for s in per_image]  # cleanlab fills NaN scores in place
        issues = f._find_label_issues_per_box(per_image, *thresholds[kind])
        out[kind] = (kept, issues)
    return out


def _add_unmatched(overlooked: tuple, labels: list[dict], pred_rows: list[pd.DataFrame]) -> None:
    """Also call overlooked a confident predicted box (cleanlab's high-probability threshold)
    that no given box of any class overlaps at IoU 0.5, COCO's matching rule. ObjectLab scores an
    overlooked object by its similarity to the given boxes of its class, and in a crowd (blood
    cells touching) a deleted box's neighbours keep that similarity high: on BCCD with boxes
    deleted it found none of them (benchmarks/RESULTS.md)."""
    from cleanlab.internal.constants import HIGH_PROBABILITY_THRESHOLD

    from curator.checks.boxes import pairwise_iou

    scores, issues = overlooked
    for k, p in enumerate(pred_rows):
        if len(p) == 0:
            continue
        given = labels[k]["bboxes"]
        best = (
            pairwise_iou(p[["x0", "y0", "x1", "y1"]].to_numpy(float), given).max(axis=1)
            if len(given)
            else np.zeros(len(p))
        )
        unmatched = (p["score"].to_numpy() >= HIGH_PROBABILITY_THRESHOLD) & (best < 0.5)
        issues[k] = np.asarray(issues[k], bool)[: len(p)] | unmatched
        scores[k] = np.where(
            unmatched, np.minimum(np.nan_to_num(scores[k], nan=1.0), best), scores[k]
        )


def _corners(r: Any) -> str:
    return f"({r.x0:g}, {r.y0:g})-({r.x1:g}, {r.y1:g})"


def label_errors(
    boxes: pd.DataFrame, preds: pd.DataFrame, paths: list[str], classes: tuple[str, ...]
) -> pd.DataFrame:
    """One row per flagged box (LABEL_ERROR_COLUMNS); an overlooked object has box_id -1 and
    names the detector's box."""
    labels, predictions, box_rows, pred_rows = cleanlab_inputs(boxes, preds, paths, classes)
    found = per_box_issues(labels, predictions)
    _add_unmatched(found["box_overlooked"], labels, pred_rows)
    rows = []
    for kind, (scores, issues) in found.items():
        for k, path in enumerate(paths):
            source = pred_rows[k] if kind == "box_overlooked" else box_rows[k]
            if len(source) == 0:
                continue
            for j in np.flatnonzero(issues[k]):
                r = source.iloc[j]
                quality = float(np.nan_to_num(scores[k][j], nan=1.0))
                if kind == "box_overlooked":
                    detail = (
                        f"the detector finds a {r.label} at {_corners(r)} (confidence "
                        f"{r.score:.2f}) that no box covers; box it if it is there."
                    )
                    box_id = -1
                elif kind == "box_swapped":
                    detail = (
                        f"box {int(r.box_id)} ({r.label}, {_corners(r)}): the detector sees "
                        f"another class here (label quality {quality:.3f}); check its class."
                    )
                    box_id = int(r.box_id)
                else:
                    detail = (
                        f"box {int(r.box_id)} ({r.label}, {_corners(r)}): the detector places "
                        f"this {r.label} elsewhere (label quality {quality:.3f}); check its edges."
                    )
                    box_id = int(r.box_id)
                rows.append((path, box_id, r.label, kind, 1.0 - quality, -1, detail))
    return pd.DataFrame(rows, columns=list(LABEL_ERROR_COLUMNS))


def run(inputs: CheckInputs, p: DetectionParams) -> CheckResult:
    boxes, preds, images = inputs.boxes, inputs.box_predictions, inputs.manifest
    assert boxes is not None and preds is not None  # run_check saw to it
    paths = sorted(set(preds["path"]))  # images the detector was run on
    classes = tuple(sorted(set(boxes["label"]) | set(preds["label"])))
    table = label_errors(boxes, preds, paths, classes)
    flags = make_flags(issue_rows(table, images))
    counts = table["issue"].value_counts()
    n_boxes = int(boxes["path"].isin(paths).sum())
    summary = {
        "n_images_predicted": len(paths),
        "n_boxes_on_them": n_boxes,
        "n_predicted_boxes": len(preds),
        "by_issue": {kind: int(counts.get(kind, 0)) for kind in KINDS},
        "images_flagged": int(table["path"].nunique()),
    }
    metrics = {kind: int(counts.get(kind, 0)) for kind in KINDS}
    return CheckResult("box_label_quality", flags, summary, metrics, {}, {"label_errors": table})
