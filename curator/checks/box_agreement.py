"""Agreement between annotators who boxed the same images.

Two annotators' boxes on an image are paired by the Hungarian algorithm on IoU (whatever their
classes: a box of the wrong class is still the same object), and a pair counts as one object
when its IoU reaches ``match_iou`` (COCO's 0.5 by default). From the pairs:

* per pair of annotators and per annotator against the others: precision (their boxes the
  other drew too), recall (the other's boxes they drew too) and the IoU of paired boxes, which
  says how alike they place the edges;
* class agreement on the paired boxes: Cohen's kappa per pair, and Krippendorff's alpha
  (nominal) over every object, all annotators at once;
* objects: an image's pairs joined across annotators (connected components, one box per
  annotator at most), each with a consensus box (the mean of its boxes' corners: weighted box
  fusion with equal weights) and the majority class, kept when at least half the image's
  annotators drew it.

Every rate carries a bootstrap interval that resamples images, not boxes (boxes in one image
are not independent). An image where an object was drawn by some annotators and not others,
or given different classes, is a finding; its score is the share of its objects not agreed.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from curator.checks.agreement import cohen_kappa, nominal_alpha
from curator.checks.base import CheckInputs, CheckResult, make_flags
from curator.checks.boxes import pairwise_iou
from curator.checks.same_photo import twin_groups
from curator.evaluation.intervals import interval_or_none, resample_counts
from curator.params import DetectionParams

CORNERS = ["x0", "y0", "x1", "y1"]
# a pair's rows seen from its second annotator
SWAP = {
    "a": "b",
    "b": "a",
    "box_a": "box_b",
    "box_b": "box_a",
    "label_a": "label_b",
    "label_b": "label_a",
}
ANNOTATOR_KEYS = ("n_images", "boxes_a", "precision_a", "recall_a", "iou")
CONSENSUS_COLUMNS = ("path", "object", "label", *CORNERS, "n_annotators", "n_drew", "class_agreed")


def match_boxes(a: np.ndarray, b: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """(index in a, index in b, IoU) of the Hungarian pairing of two sets of corners that
    maximises the summed IoU, keeping pairs at IoU >= threshold."""
    from scipy.optimize import linear_sum_assignment

    if len(a) == 0 or len(b) == 0:
        return []
    iou = pairwise_iou(a, b)
    rows, cols = linear_sum_assignment(-iou)
    pairs = zip(rows, cols, strict=True)
    return [(int(i), int(j), float(iou[i, j])) for i, j in pairs if iou[i, j] >= threshold]


def _pairs(boxes: pd.DataFrame, labelled: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Every pair of annotators on every image both labelled: one row per box of either, with
    its partner's box (or none) and the IoU."""
    by = {k: g for k, g in boxes.groupby(["annotator", "path"], sort=False)}
    empty = boxes.iloc[:0]
    shared = labelled.groupby("path")["annotator"].apply(sorted)
    rows = []
    for path, names in shared.items():
        for a, b in combinations(names, 2):
            ba, bb = by.get((a, path), empty), by.get((b, path), empty)
            found = match_boxes(ba[CORNERS].to_numpy(float), bb[CORNERS].to_numpy(float), threshold)
            paired_a = {i for i, _, _ in found}
            paired_b = {j for _, j, _ in found}
            ida, idb = ba.box_id.to_numpy(), bb.box_id.to_numpy()
            la, lb = ba.label.to_numpy(), bb.label.to_numpy()
            for i, j, iou in found:
                rows.append((path, a, b, int(ida[i]), int(idb[j]), la[i], lb[j], iou))
            for i in sorted(set(range(len(ba))) - paired_a):
                rows.append((path, a, b, int(ida[i]), -1, la[i], None, 0.0))
            for j in sorted(set(range(len(bb))) - paired_b):
                rows.append((path, a, b, -1, int(idb[j]), None, lb[j], 0.0))
    columns = ["path", "a", "b", "box_a", "box_b", "label_a", "label_b", "iou"]
    return pd.DataFrame(rows, columns=columns)


def _image_weights(paths: pd.Series, images: list[str], reps: int, rng) -> np.ndarray:
    """(1 + reps, rows) weights: all ones, then each row's image's count in a resample of the
    images (a cluster bootstrap)."""
    index = pd.Index(images).get_indexer(paths)
    counts = resample_counts(rng, len(images), reps) if reps else np.empty((0, len(images)))
    return np.vstack([np.ones(len(paths)), counts[:, index]])


def _rate(num: np.ndarray, den: np.ndarray, w: np.ndarray, level: float) -> dict[str, Any]:
    """sum(w num) / sum(w den) for the all-ones row and each resample."""
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (w @ num) / (w @ den)
    point = values[0]
    return {
        "value": None if np.isnan(point) else float(point),
        "ci": interval_or_none(values[1:], level),
    }


def _pair_stats(pairs: pd.DataFrame, classes: list[str], reps: int, level: float, rng) -> dict:
    images = sorted(set(pairs["path"]))
    w = _image_weights(pairs["path"], images, reps, rng)
    both = (pairs["box_a"] >= 0) & (pairs["box_b"] >= 0)
    has_a, has_b = (pairs["box_a"] >= 0).to_numpy(float), (pairs["box_b"] >= 0).to_numpy(float)
    matched = both.to_numpy(float)
    out = {
        "n_images": len(images),
        "boxes_a": int(has_a.sum()),
        "boxes_b": int(has_b.sum()),
        "matched": int(matched.sum()),
        "precision_a": _rate(matched, has_a, w, level),  # of a's boxes, the share b drew too
        "recall_a": _rate(matched, has_b, w, level),  # of b's boxes, the share a drew too
        "iou": _rate(pairs["iou"].to_numpy() * matched, matched, w, level),
    }
    m = pairs[both]
    if len(m) >= 2:
        code = {c: k for k, c in enumerate(classes)}
        x, y = m["label_a"].map(code).to_numpy(), m["label_b"].map(code).to_numpy()
        kappas = cohen_kappa(x, y, len(classes), w[:, both.to_numpy()])
        out["class_agreement"] = float((x == y).mean())
        out["kappa"] = {
            "value": None if np.isnan(kappas[0]) else float(kappas[0]),
            "ci": interval_or_none(kappas[1:], level),
        }
    else:
        out["class_agreement"], out["kappa"] = None, {"value": None, "ci": [None, None]}
    return out


def objects(pairs: pd.DataFrame, boxes: pd.DataFrame) -> pd.DataFrame:
    """The image's objects: connected components of paired boxes (annotator, box_id), each box
    alone when unpaired. One row per (object, annotator's box)."""
    key = pd.MultiIndex.from_frame(boxes[["path", "annotator", "box_id"]].astype(object))
    matched = pairs[(pairs["box_a"] >= 0) & (pairs["box_b"] >= 0)].astype(object)
    ends = [
        key.get_indexer(pd.MultiIndex.from_arrays([matched["path"], matched[a], matched[box]]))
        for a, box in (("a", "box_a"), ("b", "box_b"))
    ]
    members = boxes[["path", "annotator", "box_id", "label", *CORNERS]].reset_index(drop=True)
    members.insert(1, "object", twin_groups(len(boxes), *ends))
    return members


def consensus(members: pd.DataFrame, labelled: pd.DataFrame) -> pd.DataFrame:
    """One row per object (CONSENSUS_COLUMNS): mean corners, majority class (empty on a tie),
    how many of the image's annotators drew it; kept and not."""
    n_of = labelled.groupby("path")["annotator"].nunique()
    rows = []
    for (path, obj), g in members.groupby(["path", "object"], sort=True):
        votes = g["label"].value_counts()
        tie = len(votes) > 1 and votes.iloc[0] == votes.iloc[1]
        rows.append(
            (
                path,
                obj,
                "" if tie else votes.index[0],
                *g[CORNERS].mean().round(3),
                int(n_of[path]),
                g["annotator"].nunique(),
                len(votes) == 1,
            )
        )
    return pd.DataFrame(rows, columns=list(CONSENSUS_COLUMNS))


def run(inputs: CheckInputs, p: DetectionParams) -> CheckResult:
    boxes, labelled, images = inputs.box_annotations, inputs.box_annotated_images, inputs.manifest
    assert boxes is not None and labelled is not None  # run_check saw to it
    rng = np.random.default_rng(p.seed)
    names = sorted(set(labelled["annotator"]))
    classes = sorted(set(boxes["label"]))
    pairs = _pairs(boxes, labelled, p.match_iou)
    by_pair = []
    for (x, y), g in pairs.groupby(["a", "b"], sort=True):
        by_pair.append({"a": x, "b": y} | _pair_stats(g, classes, p.n_bootstrap, p.ci_level, rng))
    per_annotator = {}
    for name in names:
        mine = pd.concat([pairs[pairs.a == name], pairs[pairs.b == name].rename(columns=SWAP)])
        if len(mine):
            s = _pair_stats(mine, classes, p.n_bootstrap, p.ci_level, rng)
            per_annotator[name] = {k: s[k] for k in ANNOTATOR_KEYS}
    members = objects(pairs, boxes)
    table = consensus(members, labelled)
    alpha = _alpha(members, classes, p.n_bootstrap, p.ci_level, rng)
    unagreed = (table["n_drew"] < table["n_annotators"]) | ~table["class_agreed"]
    share = unagreed.groupby(table["path"]).mean()
    counts = table.assign(unagreed=unagreed).groupby("path")["unagreed"].sum()
    sample_of = images.set_index("path")["sample_id"]
    flags = make_flags(
        [
            {
                "sample_id": sample_of[path],
                "path": path,
                "issue": "box_disagreement",
                "score": float(share[path]),
                "detail": f"{int(counts[path])} of {int((table.path == path).sum())} objects not "
                "agreed (drawn by some annotators only, or given different classes); review "
                "the image's boxes.",
            }
            for path in share.index[share > 0]
        ]
    )
    kept = table[2 * table["n_drew"] >= table["n_annotators"]]
    summary = {
        "annotators": names,
        "n_images_shared": int(labelled.groupby("path")["annotator"].nunique().ge(2).sum()),
        "match_iou": p.match_iou,
        "pairs": by_pair,
        "per_annotator": per_annotator,
        "alpha": alpha,
        "n_objects": len(table),
        "n_consensus_boxes": len(kept),
        "n_images_disagreeing": int((share > 0).sum()),
    }
    metrics = {"images_disagreeing": summary["n_images_disagreeing"]}
    return CheckResult(
        "box_agreement",
        flags,
        summary,
        metrics,
        {"match_iou": p.match_iou},
        {"consensus": kept.reset_index(drop=True)},
    )


def _alpha(members: pd.DataFrame, classes: list[str], reps: int, level: float, rng):
    """Krippendorff's alpha (nominal) over objects drawn by at least two annotators: each
    object a unit, each annotator's class a value; resampled by image."""
    votes = members.groupby(["path", "object"])["label"].value_counts().unstack(fill_value=0)
    votes = votes.reindex(columns=classes, fill_value=0)
    votes = votes[votes.sum(axis=1) >= 2]
    if len(votes) < 2:
        return {"value": None, "ci": [None, None], "n_objects": len(votes)}
    paths = votes.index.get_level_values("path")
    images = sorted(set(paths))
    w = _image_weights(pd.Series(paths), images, reps, rng)
    values = nominal_alpha(votes.to_numpy(float), w)
    return {
        "value": None if np.isnan(values[0]) else float(values[0]),
        "ci": interval_or_none(values[1:], level),
        "n_objects": len(votes),
    }
