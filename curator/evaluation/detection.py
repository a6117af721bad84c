"""A detector scored on the test images: COCO mAP, AP per class and recall at IoU 0.5, each with a
bootstrap interval over images; the same for each group of images, with the worst group.

The numbers are COCO's own (faster-coco-eval, which reproduces pycocotools' COCOeval: the tests
check it against pycocotools on the same boxes), with one difference from a COCO file's own
evaluation: a box's size bucket is its box's area (COCO files may give a mask's area). An
interval comes from resampling images, not boxes: boxes in one image are not independent draws
(one hard image holds many of them).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from curator.evaluation.intervals import interval_or_none, resamples

AREA_BUCKETS = ("small", "medium", "large")  # COCO's: box area below 32^2, 96^2 pixels, above
MIN_GROUP_IMAGES = 10  # fewer test images in a group: no number for it


def _annotation(k: int, image: int, cat: int, x0, y0, x1, y1) -> dict[str, Any]:
    w, h = float(x1 - x0), float(y1 - y0)
    return {
        "id": k,
        "image_id": image,
        "category_id": cat,
        "bbox": [float(x0), float(y0), w, h],
        "area": w * h,
        "iscrowd": 0,
    }


class _Coco:
    """The ground truth and detections of a set of images as COCO dicts, rebuilt for any draw of
    images (a drawn image appears under a new id as often as it is drawn)."""

    def __init__(self, boxes: pd.DataFrame, preds: pd.DataFrame, images: pd.DataFrame, classes):
        self.classes = list(classes)
        self.paths = images["path"].tolist()
        self.sizes = images[["width", "height"]].to_numpy()
        cat = {c: k + 1 for k, c in enumerate(self.classes)}
        at = {p: k for k, p in enumerate(self.paths)}
        cols = ["x0", "y0", "x1", "y1"]
        self.gt: list[list[tuple]] = [[] for _ in self.paths]
        for r in boxes[boxes["path"].isin(at)].itertuples():
            self.gt[at[r.path]].append((cat[r.label], *(getattr(r, c) for c in cols), r.crowd))
        self.dt: list[list[tuple]] = [[] for _ in self.paths]
        for r in preds[preds["path"].isin(at)].itertuples():
            self.dt[at[r.path]].append((cat[r.label], *(getattr(r, c) for c in cols), r.score))

    def dicts(self, draw: np.ndarray) -> tuple[dict, list]:
        images: list[dict] = []
        annotations: list[dict] = []
        detections: list[dict] = []
        for new_id, k in enumerate(draw, start=1):
            w, h = self.sizes[k]
            images.append({"id": new_id, "width": int(w), "height": int(h), "file_name": str(k)})
            for cat, x0, y0, x1, y1, crowd in self.gt[k]:
                a = _annotation(len(annotations) + 1, new_id, cat, x0, y0, x1, y1)
                a["iscrowd"] = int(crowd)
                annotations.append(a)
            for cat, x0, y0, x1, y1, score in self.dt[k]:
                d = _annotation(len(detections) + 1, new_id, cat, x0, y0, x1, y1)
                d["score"] = float(score)
                detections.append(d)
        categories = [{"id": k + 1, "name": c} for k, c in enumerate(self.classes)]
        return {"images": images, "annotations": annotations, "categories": categories}, detections


def coco_scores(gt: dict, detections: list[dict]) -> dict[str, Any]:
    """COCO's numbers for one set of images: map (IoU 0.50:0.95), map50, map75, map per area
    bucket, AP per class, recall at IoU 0.5 (mean over classes with a box, as COCO's AR)."""
    from faster_coco_eval import COCO, COCOeval_faster

    logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)
    truth = COCO(gt)
    found = truth.loadRes(detections) if detections else None
    if found is None or not gt["annotations"]:
        return {
            "map": None,
            "map50": None,
            "map75": None,
            "recall50": None,
            "ap": {},
            **{f"map_{b}": None for b in AREA_BUCKETS},
        }
    ev = COCOeval_faster(truth, found, iouType="bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    stats = [None if s < 0 else float(s) for s in ev.stats[:6]]
    precision = ev.eval["precision"][:, :, :, 0, -1]  # IoU x recall x class, all areas, 100 dets
    recall = ev.eval["recall"][0, :, 0, -1]  # at IoU 0.5, per class
    ap = {}
    for k, cat in enumerate(ev.params.catIds):
        p = precision[:, :, k]
        if (p > -1).any():
            ap[gt["categories"][cat - 1]["name"]] = float(p[p > -1].mean())
    held = recall[recall > -1]
    return {
        "map": stats[0],
        "map50": stats[1],
        "map75": stats[2],
        **{f"map_{b}": stats[3 + i] for i, b in enumerate(AREA_BUCKETS)},
        "ap": ap,
        "recall50": float(held.mean()) if len(held) else None,
    }


def _with_intervals(coco: _Coco, idx: np.ndarray, rng, reps: int, level: float) -> dict:
    point = coco_scores(*coco.dicts(idx))
    draws = [coco_scores(*coco.dicts(idx[take])) for (take,) in resamples(rng, (len(idx),), reps)]
    out: dict[str, Any] = {"n_images": len(idx)}
    for key in ("map", "map50", "map75", "recall50", *(f"map_{b}" for b in AREA_BUCKETS)):
        values = np.array([d[key] for d in draws if d[key] is not None])
        out[key] = {"value": point[key], "ci": interval_or_none(values, level)}
    out["ap"] = {}
    for c, v in point["ap"].items():
        values = np.array([d["ap"][c] for d in draws if c in d["ap"]])
        out["ap"][c] = {"value": v, "ci": interval_or_none(values, level)}
    return out


def evaluate_detector(
    boxes: pd.DataFrame,
    preds: pd.DataFrame,
    images: pd.DataFrame,
    classes,
    groups: dict[str, pd.Series],
    *,
    reps: int,
    level: float,
    seed: int,
) -> dict[str, Any]:
    """COCO numbers with intervals on ``images`` (path, width, height); and per grouping (name
    -> each image's group, by path) the same for every group of at least MIN_GROUP_IMAGES
    images, with the worst group by mAP and its gap to the best."""
    rng = np.random.default_rng(seed)
    coco = _Coco(boxes, preds, images, classes)
    result = {"overall": _with_intervals(coco, np.arange(len(images)), rng, reps, level)}
    by = {}
    for name, group in groups.items():
        of = group.reindex(images["path"]).to_numpy()
        rows = {}
        for value in sorted({str(v) for v in of if pd.notna(v)}):
            idx = np.flatnonzero(of == value)
            if len(idx) >= MIN_GROUP_IMAGES:
                rows[value] = _with_intervals(coco, idx, rng, reps, level)
        scored = {g: r["map"]["value"] for g, r in rows.items() if r["map"]["value"] is not None}
        worst = min(scored, key=scored.__getitem__) if scored else None
        by[name] = {
            "groups": rows,
            "worst": worst,
            "gap": max(scored.values()) - scored[worst] if worst is not None else None,
            "too_few": sorted(set(map(str, of[pd.notna(of)])) - set(rows)),
        }
    result["by"] = by
    return result
