"""Label errors from a detector's predictions: boxes deleted, relabelled or moved in annotations
the test writes are named box by box, and the images flagged are exactly the images cleanlab's
own find_label_issues flags on the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curator import artifacts
from curator.checks.box_label_quality import cleanlab_inputs, per_box_issues
from curator.params import DetectionParams, Params
from curator.stages import boxes as stage
from tests.conftest import write_image
from tests.detection import write_coco

CLASSES = ("car", "person", "sign")
KINDS = ("deleted", "relabelled", "moved")


def _world(n_images: int, seed: int) -> tuple[list, list, dict]:
    """True boxes on a grid (no two overlap), a detector that finds each with a pixel or two of
    jitter and a high score (and adds a few weak false alarms), and annotations with one box
    deleted, relabelled or moved half its size in each of 8 images per kind."""
    rng = np.random.default_rng(seed)
    truth = []
    for _ in range(n_images):
        boxes = []
        for slot in rng.choice(12, int(rng.integers(3, 7)), replace=False):
            r, c = divmod(int(slot), 4)
            x0, y0 = 8 + 48 * c + int(rng.integers(0, 6)), 8 + 50 * r + int(rng.integers(0, 6))
            boxes.append([str(rng.choice(CLASSES)), x0, y0, x0 + 32, y0 + 30])
        truth.append(boxes)
    results = []
    for k, boxes in enumerate(truth):
        for cls, x0, y0, x1, y1 in boxes:
            j = rng.normal(0, 1.0, 4)
            bbox = [x0 + j[0], y0 + j[1], x1 - x0 + j[2], y1 - y0 + j[3]]
            results.append(
                {
                    "image_id": k,
                    "category_id": CLASSES.index(cls) + 1,
                    "bbox": [float(v) for v in bbox],
                    "score": float(rng.uniform(0.95, 0.999)),
                }
            )
        if rng.random() < 0.3:
            results.append(
                {
                    "image_id": k,
                    "category_id": 1,
                    "bbox": [150.0, 120.0, 20.0, 20.0],
                    "score": float(rng.uniform(0.05, 0.2)),
                }
            )
    given = [[list(b) for b in boxes] for boxes in truth]
    planted: dict = {kind: {} for kind in KINDS}
    order = rng.permutation(n_images)
    for n, kind in enumerate(KINDS):
        for k in order[8 * n : 8 * (n + 1)]:
            i = int(rng.integers(len(given[k])))
            cls, x0, y0, x1, y1 = given[k][i]
            if kind == "deleted":
                given[k].pop(i)
            elif kind == "relabelled":
                given[k][i][0] = CLASSES[(CLASSES.index(cls) + 1) % 3]
            else:
                given[k][i] = [cls, x0 + 16, y0 + 15, x1 + 16, y1 + 15]
            planted[kind][f"images/train/{k:03d}.png"] = (cls, x0, y0)
    images = [("train", f"{k:03d}.png", (200, 160), boxes) for k, boxes in enumerate(given)]
    return images, results, planted


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    images, results, planted = _world(60, seed=0)
    for k, (split, name, size, _) in enumerate(images):
        write_image(root / "data" / "images" / split / name, seed=k, size=size)
    annotations = write_coco(root / "data", images, classes=CLASSES)
    (root / "data" / "preds.json").write_text(json.dumps(results))
    detection = DetectionParams(
        format="coco", annotations=annotations, predictions={"train": "preds.json"}
    )
    summary = stage.run(Params(detection=detection), root / "data", root / "audits")
    return root, summary, planted


def test_planted_label_errors_are_named_box_by_box(audited) -> None:
    root, summary, planted = audited
    found = pd.read_parquet(root / "audits" / artifacts.BOX_FINDINGS)
    kinds = {"deleted": "box_overlooked", "relabelled": "box_swapped", "moved": "box_badly_located"}
    # of 8 planted each, found 8, 6 and 4 on this seed: ObjectLab judges a confident detector's
    # boxes (above 0.95) for the first two, and a moved box against its class's other boxes
    least = {"deleted": 7, "relabelled": 5, "moved": 3}
    for kind, issue in kinds.items():
        mine = found[found.issue == issue]
        hits = set(mine.path) & set(planted[kind])
        assert len(hits) >= least[kind], (kind, len(hits), mine.detail.tolist()[:5])
        # and the flag names the planted box, not another in the image
        for path in hits:
            cls, _, _ = planted[kind][path]
            details = mine[mine.path == path].detail.str.cat(sep=" | ")
            assert cls in details or kind == "relabelled", details
    flagged_images = set(found[found.issue.isin(kinds.values())].path)
    planted_images = set().union(*planted.values())
    assert len(flagged_images - planted_images) <= 3  # clean images rarely flagged
    assert summary["label_errors"]["images_flagged"] == len(flagged_images)
    flags = pd.read_parquet(root / "audits" / artifacts.findings("box_label_quality"))
    assert set(flags.issue) == set(kinds.values())


def test_images_flagged_equal_cleanlabs_own(audited) -> None:
    from cleanlab.object_detection.filter import find_label_issues

    root, _, _ = audited
    boxes = pd.read_parquet(root / "audits" / artifacts.BOXES)
    from curator.io.boxes import read_boxes, read_predictions

    detection = DetectionParams(
        format="coco",
        annotations={"train": "annotations/train.json"},
        predictions={"train": "preds.json"},
    )
    listing = read_boxes(root / "data", detection)
    preds = read_predictions(root / "data", detection, listing)
    paths = sorted(set(preds.path))
    labels, predictions, _, _ = cleanlab_inputs(boxes, preds, paths, CLASSES)
    ours = per_box_issues(labels, predictions)
    per_image = np.zeros(len(paths), bool)
    for _, issues in ours.values():
        per_image |= np.array([bool(np.any(i)) for i in issues])
    theirs = find_label_issues(labels, predictions)
    assert per_image.tolist() == theirs.tolist()
    assert per_image.sum() > 10


def test_without_predictions_the_summary_says_what_is_not_checked(tmp_path: Path) -> None:
    images, _, _ = _world(4, seed=1)
    for k, (split, name, size, _) in enumerate(images):
        write_image(tmp_path / "images" / split / name, seed=k, size=size)
    detection = DetectionParams(format="coco", annotations=write_coco(tmp_path, images, CLASSES))
    summary = stage.run(Params(detection=detection), tmp_path, tmp_path / "audits")
    assert summary["label_errors"].startswith("not checked: an object nobody boxed")
    assert not (tmp_path / "audits" / artifacts.DETECTION_EVALUATION).exists()
