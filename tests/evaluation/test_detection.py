"""Detection evaluation: curator's COCO numbers equal pycocotools' on the same boxes and
predictions (written as COCO files, read back through curator's readers), and the intervals and
groups behave."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curator.errors import ConfigError, DataError
from curator.evaluation.detection import evaluate_detector
from curator.io.boxes import read_boxes, read_predictions
from curator.params import DetectionParams
from tests.conftest import write_image
from tests.detection import write_coco

CLASSES = ("car", "person", "sign")


def _scene(n_images: int, seed: int) -> tuple[list, list]:
    """Images with 1-6 boxes each (sizes spanning COCO's small, medium and large at 200 px),
    and a detector's output: most boxes found with jittered corners and a score, some missed,
    some invented, some given another class."""
    rng = np.random.default_rng(seed)
    images, results = [], []
    for k in range(n_images):
        boxes = []
        for _ in range(int(rng.integers(1, 7))):
            w, h = rng.integers(8, 120, 2)
            x0, y0 = rng.integers(0, 200 - w), rng.integers(0, 160 - h)
            boxes.append([str(rng.choice(CLASSES)), int(x0), int(y0), int(x0 + w), int(y0 + h)])
            if rng.random() < 0.85:
                c = boxes[-1][0] if rng.random() < 0.9 else str(rng.choice(CLASSES))
                jx0, jy0, jx1, jy1 = rng.normal(0, 0.08 * min(w, h), 4)
                xa, ya = x0 + jx0, y0 + jy0
                xb, yb = max(xa + 1, x0 + w + jx1), max(ya + 1, y0 + h + jy1)
                results.append((k, c, [float(xa), float(ya), float(xb - xa), float(yb - ya)]))
        for _ in range(int(rng.integers(0, 3))):  # invented boxes
            x0, y0 = rng.integers(0, 150), rng.integers(0, 110)
            results.append((k, str(rng.choice(CLASSES)), [float(x0), float(y0), 40.0, 30.0]))
        images.append(("test", f"{k:03d}.png", (200, 160), boxes))
    scores = np.random.default_rng(seed + 1).uniform(0.05, 1.0, len(results))
    coco_results = [
        {"image_id": k, "category_id": CLASSES.index(c) + 1, "bbox": bbox, "score": float(s)}
        for (k, c, bbox), s in zip(results, scores, strict=True)
    ]
    return images, coco_results


def _write(root: Path, n_images: int, seed: int) -> tuple[DetectionParams, list]:
    images, results = _scene(n_images, seed)
    for k, (split, name, size, _) in enumerate(images):
        write_image(root / "images" / split / name, seed=k, size=size)
    annotations = write_coco(root, images, classes=CLASSES)
    (root / "results.json").write_text(json.dumps(results))
    return DetectionParams(
        format="coco", annotations=annotations, predictions={"test": "results.json"}
    ), results


def _pycocotools(root: Path, results: list) -> tuple[np.ndarray, dict, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = COCO(str(root / "annotations" / "test.json"))
    ev = COCOeval(truth, truth.loadRes(results), iouType="bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    precision = ev.eval["precision"][:, :, :, 0, -1]
    ap = {}
    for k, cat in enumerate(ev.params.catIds):
        p = precision[:, :, k]
        ap[CLASSES[cat - 1]] = float(p[p > -1].mean())
    recall = ev.eval["recall"][0, :, 0, -1]
    return ev.stats, ap, float(recall[recall > -1].mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_coco_numbers_equal_pycocotools(tmp_path: Path, seed: int) -> None:
    params, results = _write(tmp_path, n_images=25, seed=seed)
    listing = read_boxes(tmp_path, params)
    preds = read_predictions(tmp_path, params, listing)
    assert len(preds) == len(results)
    got = evaluate_detector(
        listing.boxes, preds, listing.images, listing.classes, {}, reps=0, level=0.95, seed=0
    )["overall"]
    stats, ap, recall50 = _pycocotools(tmp_path, results)
    keys = ("map", "map50", "map75", "map_small", "map_medium", "map_large")
    for key, expected in zip(keys, stats[:6], strict=True):
        assert got[key]["value"] == pytest.approx(expected, abs=1e-6), key
    assert {c: v["value"] for c, v in got["ap"].items()} == pytest.approx(ap, abs=1e-6)
    assert got["recall50"]["value"] == pytest.approx(recall50, abs=1e-6)
    assert 0.2 < got["map"]["value"] < 0.9  # a detector neither perfect nor useless


def test_intervals_and_groups(tmp_path: Path) -> None:
    params, _ = _write(tmp_path, n_images=40, seed=3)
    listing = read_boxes(tmp_path, params)
    preds = read_predictions(tmp_path, params, listing)
    paths = listing.images["path"]
    halves = pd.Series(["first" if k < 20 else "second" for k in range(len(paths))], index=paths)
    few = pd.Series(["a"] * 35 + ["b"] * 5, index=paths)
    # the second half's detections are dropped: that group must come out worst
    worse = preds[~(preds["path"].isin(paths[20:]) & (preds["score"] > 0.5))]
    out = evaluate_detector(
        listing.boxes,
        worse,
        listing.images,
        listing.classes,
        {"half": halves, "site": few},
        reps=60,
        level=0.9,
        seed=0,
    )
    overall = out["overall"]["map"]
    assert overall["ci"][0] <= overall["value"] <= overall["ci"][1]
    assert out["by"]["half"]["worst"] == "second"
    assert out["by"]["half"]["gap"] > 0
    assert set(out["by"]["site"]["groups"]) == {"a"} and out["by"]["site"]["too_few"] == ["b"]


def test_yolo_predictions_equal_coco_results(tmp_path: Path) -> None:
    params, results = _write(tmp_path, n_images=6, seed=5)
    listing = read_boxes(tmp_path, params)
    coco = read_predictions(tmp_path, params, listing)
    folder = tmp_path / "preds"
    folder.mkdir()
    lines: dict[int, list[str]] = {}
    for r in results:
        x, y, w, h = r["bbox"]
        lines.setdefault(r["image_id"], []).append(
            f"{r['category_id'] - 1} {(x + w / 2) / 200!r} {(y + h / 2) / 160!r} {w / 200!r} "
            f"{h / 160!r} {r['score']!r}"
        )
    for k, text in lines.items():
        (folder / f"{k:03d}.txt").write_text("\n".join(text) + "\n")
    yolo_params = DetectionParams(
        format="coco", annotations=params.annotations, predictions={"test": "preds"}
    )
    yolo = read_predictions(tmp_path, yolo_params, listing)
    pd.testing.assert_frame_equal(yolo, coco)


@pytest.mark.parametrize(
    ("edit", "phrase"),
    [
        (lambda r: r[0].update(image_id=999), "image_id 999 is no image of the test annotations"),
        (lambda r: r[0].update(category_id=7), "category_id 7 is not a class"),
        (lambda r: r[0].update(score=3.5), "score 3.5 is not in [0, 1]"),
        (lambda r: r[0].update(bbox=[1, 2, 3]), "bbox must be four numbers"),
    ],
)
def test_bad_predictions_are_refused(tmp_path: Path, edit, phrase: str) -> None:
    params, results = _write(tmp_path, n_images=3, seed=6)
    edit(results)
    (tmp_path / "results.json").write_text(json.dumps(results))
    listing = read_boxes(tmp_path, params)
    with pytest.raises(DataError, match=r"results\.json \[0\]") as err:
        read_predictions(tmp_path, params, listing)
    assert phrase in str(err.value)


def test_the_stage_scores_groups_from_the_metadata(tmp_path: Path) -> None:
    """metadata.csv's site column: boxes per site and class, and mAP per site on the test split,
    where one site's detections are mostly dropped (it must come out worst)."""
    from curator import artifacts
    from curator.params import BalanceParams, EvaluateParams, Params
    from curator.stages import boxes as stage

    params, results = _write(tmp_path, n_images=30, seed=7)
    site = {k: "north" if k < 15 else "south" for k in range(30)}
    rows = [f"images/test/{k:03d}.png,{site[k]}" for k in range(30)]
    (tmp_path / "metadata.csv").write_text("path,site\n" + "\n".join(rows) + "\n")
    kept = [r for r in results if site[r["image_id"]] == "north" or r["score"] < 0.3]
    (tmp_path / "results.json").write_text(json.dumps(kept))
    full = Params(
        detection=params,
        balance=BalanceParams(subgroups=("site",)),
        evaluate=EvaluateParams(sensitive_features=("site",), n_bootstrap=50),
    )
    summary = stage.run(full, tmp_path, tmp_path / "audits")
    by_site = summary["instances_by_group"]["site"]
    assert {r["site"] for r in by_site} == {"north", "south"}
    assert sum(r["boxes"] for r in by_site) == summary["n_boxes"]
    doc = json.loads((tmp_path / "audits" / artifacts.DETECTION_EVALUATION).read_text())
    groups = doc["by"]["site"]
    assert set(groups["groups"]) == {"north", "south"}
    assert groups["worst"] == "south" and groups["gap"] > 0.3
    # a group column the metadata lacks is refused before any work
    wrong = Params(detection=params, evaluate=EvaluateParams(sensitive_features=("region",)))
    with pytest.raises(ConfigError, match=r"evaluate\.sensitive_features names 'region'"):
        stage.run(wrong, tmp_path, tmp_path / "audits2")
