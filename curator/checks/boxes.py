"""Box findings: boxes drawn wrong in ways the boxes themselves show, and instances per class.

Without a detector's predictions a missing or misplaced box cannot be seen, but these can:

* ``box_outside_image``: part of the box lies past the image's border (the share outside is
  its score);
* ``box_degenerate``: narrower or lower than one pixel (a click, not a drag);
* ``box_extreme_aspect`` and ``box_tiny``: the box's log aspect (width / height), or its log
  share of the image's area, is more than ``outlier_z`` robust standard deviations (median and
  MAD) from its class's own boxes in this dataset: a blood cell and a pedestrian have different
  shapes, and each dataset its own scale, so nothing is fixed but the z. Boxes touching the
  border are left out of both: an object cut by the frame is legitimately thin or small;
* ``box_duplicate``: two boxes of one class overlap by at least ``same_object_iou`` (one
  object drawn twice); ``box_class_overlap``: two boxes of different classes do (one object
  given two classes, or a class swapped on a copy);
* ``image_without_boxes``: an image with no box, while such images are at most
  ``max_empty_share`` of the dataset (where boxes are everywhere else, an empty image is more
  likely a forgotten one than a background picture).

Pairs are searched within each image, so the work grows with boxes per image, never with the
number of images squared. Every flag names the box (its index in the boxes table, class and
corners) and what to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.checks.base import CheckInputs, CheckResult, make_flags
from curator.checks.properties import robust_z
from curator.params import DetectionParams

# robust SD floor in log units: boxes that all share a shape do not make 5% off extreme
MIN_SCALE = 0.1
MIN_CLASS_BOXES = 20  # fewer than this: a class is judged against every class's boxes together
BORDER = 2.0  # pixels: a box this close to the frame touches it (VOC counts from 1)
COCO_SMALL, COCO_MEDIUM = 32**2, 96**2  # COCO's area buckets (pixels)
BOX_FINDING_COLUMNS = ("path", "box_id", "label", "issue", "score", "other_box_id", "detail")


def _corners(b: pd.Series | Any) -> str:
    return f"({b.x0:g}, {b.y0:g})-({b.x1:g}, {b.y1:g})"


def _class_z(values: pd.Series, classes: pd.Series) -> pd.Series:
    """Robust z of each value within its class; classes with fewer than MIN_CLASS_BOXES values
    are judged against every class's values together."""
    z = pd.Series(robust_z(values.to_numpy(), MIN_SCALE)[0], index=values.index)
    for _, v in values.groupby(classes, observed=True):
        if len(v) >= MIN_CLASS_BOXES:
            z[v.index] = robust_z(v.to_numpy(), MIN_SCALE)[0]
    return z


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n x 4 corners x0, y0, x1, y1) with every box of ``b``."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_pairs(boxes: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Every pair of boxes in one image overlapping by IoU >= threshold: (a, b, iou), a < b
    as row positions of ``boxes``."""
    corners = boxes[["x0", "y0", "x1", "y1"]].to_numpy(float)
    found = [(np.empty(0, int), np.empty(0, int), np.empty(0))]
    for rows in boxes.groupby("path", sort=False).indices.values():
        iou = pairwise_iou(corners[rows], corners[rows])
        a, b = np.nonzero(np.triu(iou >= threshold, k=1))
        found.append((rows[a], rows[b], iou[a, b]))
    a, b, iou = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return pd.DataFrame({"a": a, "b": b, "iou": iou})


def instance_balance(
    boxes: pd.DataFrame, images: pd.DataFrame, by: str = "split"
) -> list[dict[str, Any]]:
    """Per value of ``by`` (split, or a metadata column of ``images``) and class: boxes, images
    holding the class, and COCO small / medium / large box counts (box area below 32^2, 96^2
    pixels, above). Images whose value is unknown belong to no group."""
    groups = images[["path", by]].dropna()
    held = boxes.drop(columns=[by], errors="ignore").merge(groups, on="path")
    rows = []
    for (value, label), b in held.groupby([by, "label"], observed=True, sort=True):
        area = b["area"]
        rows.append(
            {
                by: str(value),
                "label": str(label),
                "boxes": len(b),
                "images": int(b["path"].nunique()),
                f"images_in_{'split' if by == 'split' else 'group'}": int(
                    (groups[by] == value).sum()
                ),
                "small": int((area < COCO_SMALL).sum()),
                "medium": int(((area >= COCO_SMALL) & (area < COCO_MEDIUM)).sum()),
                "large": int((area >= COCO_MEDIUM).sum()),
                "median_area": float(area.median()),
            }
        )
    return rows


def box_findings(
    boxes: pd.DataFrame, images: pd.DataFrame, p: DetectionParams
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(one row per flagged box, BOX_FINDING_COLUMNS; numbers for the summary)."""
    b = boxes.reset_index(drop=True)
    rows: list[dict[str, Any]] = []

    def flag(k: Any, issue: str, score: float, detail: str, other: int = -1) -> None:
        r = b.iloc[k]
        rows.append(
            {
                "path": r.path,
                "box_id": int(r.box_id),
                "label": r.label,
                "issue": issue,
                "score": float(np.clip(score, 0.0, 1.0)),
                "other_box_id": other,
                "detail": f"box {int(r.box_id)} ({r.label}, {_corners(r)}): {detail}",
            }
        )

    w, h = b["box_width"], b["box_height"]
    clipped_w = (np.minimum(b.x1, b.image_width) - np.maximum(b.x0, 0)).clip(lower=0)
    clipped_h = (np.minimum(b.y1, b.image_height) - np.maximum(b.y0, 0)).clip(lower=0)
    outside = (b.x0 < 0) | (b.y0 < 0) | (b.x1 > b.image_width) | (b.y1 > b.image_height)
    area = (w * h).to_numpy()
    share_out = np.where(area > 0, 1 - (clipped_w * clipped_h) / np.where(area > 0, area, 1), 1.0)
    for k in np.flatnonzero(outside):
        r = b.iloc[k]
        flag(
            k,
            "box_outside_image",
            max(share_out[k], 0.01),
            f"{share_out[k]:.0%} of it lies outside the {r.image_width}x{r.image_height} image; "
            "clip it to the image or redraw it.",
        )
    degenerate = (w < 1) | (h < 1)
    for k in np.flatnonzero(degenerate):
        flag(
            k,
            "box_degenerate",
            1.0,
            f"{w[k]:g} x {h[k]:g} px, less than a pixel across; delete it or draw the object.",
        )

    inner = ~degenerate & (b.x0 >= BORDER) & (b.y0 >= BORDER)
    inner &= (b.x1 <= b.image_width - BORDER) & (b.y1 <= b.image_height - BORDER)
    judged = b[inner]
    aspect_z = _class_z(np.log(judged.box_width / judged.box_height), judged.label)
    size_z = _class_z(
        np.log(judged.area / (judged.image_width * judged.image_height)), judged.label
    )
    for k in aspect_z.index[aspect_z.abs() > p.outlier_z]:
        z = aspect_z[k]
        flag(
            k,
            "box_extreme_aspect",
            1 - p.outlier_z / abs(z) / 2,
            f"{'wide' if z > 0 else 'tall'} ({w[k] / h[k]:.2f} wide per high), {abs(z):.1f} robust "
            f"SDs from the other {b.label[k]} boxes; check it covers one whole object.",
        )
    for k in size_z.index[size_z < -p.outlier_z]:
        z = size_z[k]
        flag(
            k,
            "box_tiny",
            1 - p.outlier_z / abs(z) / 2,
            f"{area[k]:g} px^2, {abs(z):.1f} robust SDs smaller than the other {b.label[k]} boxes "
            "for their image's size; check it is an object and not a stray click.",
        )

    pairs = iou_pairs(b[~degenerate], p.same_object_iou)
    kept = np.flatnonzero(~degenerate)
    for a, c, iou in zip(kept[pairs.a], kept[pairs.b], pairs.iou, strict=True):
        same = b.label[a] == b.label[c]
        issue = "box_duplicate" if same else "box_class_overlap"
        other = b.iloc[c]
        text = (
            f"overlaps box {int(other.box_id)} ({other.label}, {_corners(other)}) "
            f"by IoU {iou:.2f}: "
            + (
                "one object drawn twice? delete one."
                if same
                else "one object with two classes? keep the right one."
            )
        )
        flag(a, issue, iou, text, int(other.box_id))

    empty = images[images["n_boxes"] == 0]
    empty_share = len(empty) / len(images) if len(images) else 0.0
    flag_empty = 0 < empty_share <= p.max_empty_share
    summary = {
        "n_images": len(images),
        "n_boxes": len(b),
        "n_images_without_boxes": len(empty),
        "images_without_boxes_share": empty_share,
        "images_without_boxes_flagged": bool(flag_empty),
        "n_boxes_touching_border": int((~inner & ~degenerate).sum()),
        "n_pairs_at_iou": len(pairs),
    }
    table = pd.DataFrame(rows, columns=list(BOX_FINDING_COLUMNS))
    empties = empty if flag_empty else empty.iloc[:0]
    return table, summary | {"empty_images": empties["path"].tolist()}


def subgroup_columns(images: pd.DataFrame) -> list[str]:
    """The images table's metadata columns (beyond what io/boxes lists and the sample id)."""
    from curator.io.boxes import IMAGE_COLUMNS

    return [c for c in images.columns if c not in (*IMAGE_COLUMNS, "sample_id")]


def issue_rows(table: pd.DataFrame, images: pd.DataFrame) -> list[dict[str, Any]]:
    """A per-box table (path, issue, score, detail) as rows of the issue schema: each box's
    finding is its image's, named by the image's sample_id."""
    sample_of = images.set_index("path")["sample_id"]
    return [
        {
            "sample_id": sample_of[r.path],
            "path": r.path,
            "issue": r.issue,
            "score": float(np.clip(r.score, 0.0, 1.0)),
            "detail": r.detail,
        }
        for r in table.itertuples()
    ]


def run(inputs: CheckInputs, p: DetectionParams) -> CheckResult:
    boxes, images = inputs.boxes, inputs.manifest
    assert boxes is not None  # run_check refuses inputs without boxes (Check.requires)
    table, numbers = box_findings(boxes, images, p)
    sample_of = images.set_index("path")["sample_id"]
    rows = issue_rows(table, images)
    share = numbers["images_without_boxes_share"]
    rows += [
        {
            "sample_id": sample_of[path],
            "path": path,
            "issue": "image_without_boxes",
            "score": 1.0 - share,
            "detail": f"no boxes, while {1 - share:.1%} of the images have some; label it, or "
            "confirm it shows nothing to box.",
        }
        for path in numbers.pop("empty_images")
    ]
    flags = make_flags(rows)
    counts = flags["issue"].value_counts()
    summary = numbers | {
        "classes": sorted(boxes["label"].unique().tolist()),
        "by_issue": {str(k): int(v) for k, v in counts.items()},
        "instances": instance_balance(boxes, images),
        # the stage puts the metadata columns balance.subgroups names beside the images
        "instances_by_group": {
            col: instance_balance(boxes, images, col) for col in subgroup_columns(images)
        },
        "thresholds": {
            "outlier_z": p.outlier_z,
            "same_object_iou": p.same_object_iou,
            "max_empty_share": p.max_empty_share,
        },
    }
    metrics = {"boxes": len(boxes), "flagged_boxes": len(table)}
    params = {"outlier_z": p.outlier_z, "same_object_iou": p.same_object_iou}
    return CheckResult("boxes", flags, summary, metrics, params, {"box_findings": table})
