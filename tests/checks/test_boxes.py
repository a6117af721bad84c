"""Box findings on a dataset the test writes (real PNGs, boxes in COCO): every planted kind of
bad box is found, and nothing else is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curator import artifacts
from curator.checks.boxes import pairwise_iou
from curator.params import DetectionParams, Params
from curator.stages import boxes as stage
from tests.conftest import tree_digest, write_image
from tests.detection import write_coco

SIDE = 64


def _dataset(n_images: int, n_empty: int, seed: int = 0) -> tuple[list, dict]:
    """Images of 64 x 64 px, each with six ~12 px boxes (classes cell, dot) on a grid away from
    the border, sides jittered by a pixel; then one box of each bad kind planted. Returns the
    images (as tests/detection.IMAGES) and {issue: (image name, box corners)} planted."""
    rng = np.random.default_rng(seed)
    images = []
    for k in range(n_images):
        boxes = []
        if k >= n_empty:
            for r in range(2):
                for c in range(3):
                    x0, y0 = 6 + 19 * c + int(rng.integers(0, 2)), 10 + 26 * r
                    w, h = 12 + int(rng.integers(-1, 2)), 12 + int(rng.integers(-1, 2))
                    boxes.append(["cell" if (r + c) % 2 else "dot", x0, y0, x0 + w, y0 + h])
        images.append(("train", f"{k:03d}.png", (SIDE, SIDE), boxes))
    planted = {
        "box_outside_image": ("cell", 55, 40, 72, 52),
        "box_degenerate": ("dot", 30, 3, 30, 8),
        "box_extreme_aspect": ("cell", 20, 2, 44, 6),
        "box_tiny": ("dot", 2, 50, 5, 53),
    }
    where = {}
    for k, (issue, box) in enumerate(planted.items()):
        _, name, _, boxes = images[n_empty + k]
        boxes.append(list(box))
        where[issue] = (name, box[1:])
    _, name, _, boxes = images[n_empty + 5]
    c, x0, y0, x1, y1 = boxes[0]
    boxes.append([c, x0 + 1, y0, x1 + 1, y1])  # the same object drawn again, a pixel over
    where["box_duplicate"] = (name, None)
    _, name, _, boxes = images[n_empty + 6]
    c, x0, y0, x1, y1 = boxes[1]
    boxes.append(["dot" if c == "cell" else "cell", x0, y0, x1, y1])  # another class, same box
    where["box_class_overlap"] = (name, None)
    return images, where


def _run(tmp_path: Path, images: list) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    data, audits = tmp_path / "data", tmp_path / "audits"
    for k, (split, name, size, _) in enumerate(images):
        write_image(data / "images" / split / name, seed=k, size=size)
    annotations = write_coco(data, images, classes=("cell", "dot", "rod"))
    before = tree_digest(data)
    params = Params(detection=DetectionParams(format="coco", annotations=annotations))
    summary = stage.run(params, data, audits)
    assert tree_digest(data) == before  # the data folder is only read
    found = pd.read_parquet(audits / artifacts.BOX_FINDINGS)
    flags = pd.read_parquet(audits / artifacts.findings("boxes"))
    return summary, found, flags


def test_every_planted_bad_box_is_found_and_nothing_else(tmp_path: Path) -> None:
    images, planted = _dataset(n_images=60, n_empty=1)
    summary, found, flags = _run(tmp_path, images)
    by_issue = found.groupby("issue")
    assert set(by_issue.groups) == set(planted)
    for issue, (name, corners) in planted.items():
        rows = by_issue.get_group(issue)
        assert len(rows) == 1, rows
        row = rows.iloc[0]
        assert row.path == f"images/train/{name}"
        if corners is not None:
            assert (
                f"({corners[0]:g}, {corners[1]:g})-({corners[2]:g}, {corners[3]:g})" in row.detail
            )
    assert by_issue.get_group("box_duplicate").iloc[0].score > 0.75
    assert "another" not in by_issue.get_group("box_class_overlap").iloc[0].detail
    assert "two classes" in by_issue.get_group("box_class_overlap").iloc[0].detail
    # the empty image (1 of 60, under max_empty_share 0.02) is a finding of its own
    empty = flags[flags.issue == "image_without_boxes"]
    assert empty.path.tolist() == ["images/train/000.png"]
    assert summary["images_without_boxes_flagged"] is True
    assert set(flags.issue) == set(planted) | {"image_without_boxes"}
    # instances per class and COCO size bucket
    inst = {r["label"]: r for r in summary["instances"]}
    assert inst["cell"]["boxes"] + inst["dot"]["boxes"] == summary["n_boxes"]
    assert inst["cell"]["small"] == inst["cell"]["boxes"]  # every box under 32 x 32 px
    assert inst["cell"]["images"] == 59


def test_empty_images_are_not_findings_where_many_images_are_empty(tmp_path: Path) -> None:
    images, _ = _dataset(n_images=60, n_empty=10)
    summary, _, flags = _run(tmp_path, images)
    assert summary["n_images_without_boxes"] == 10
    assert summary["images_without_boxes_flagged"] is False
    assert "image_without_boxes" not in set(flags.issue)


def test_a_box_is_judged_against_its_own_class(tmp_path: Path) -> None:
    """Long boxes are normal for a class of long objects: only the cell drawn long is flagged."""
    images, _ = _dataset(n_images=40, n_empty=0)
    for k in range(30):  # a class of 30 x 6 px boxes in most images
        images[k][3].append(["rod", 4, 30 + (k % 2), 34, 36])
    _, found, _ = _run(tmp_path, images)
    aspect = found[found.issue == "box_extreme_aspect"]
    assert aspect.label.tolist() == ["cell"]


@pytest.mark.parametrize("seed", [0, 1])
def test_pairwise_iou_matches_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = np.sort(rng.uniform(0, 50, (7, 2, 2)), axis=1).transpose(0, 2, 1).reshape(7, 4)
    a = a[:, [0, 2, 1, 3]]  # x0, y0, x1, y1
    b = a[::-1].copy() + rng.uniform(-3, 3, (7, 4)).clip(0, None) * [0, 0, 1, 1]
    got = pairwise_iou(a, b)
    for i in range(7):
        for j in range(7):
            ix = max(0.0, min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]))
            iy = max(0.0, min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]))
            inter = ix * iy
            union = np.prod(a[i, 2:] - a[i, :2]) + np.prod(b[j, 2:] - b[j, :2]) - inter
            assert got[i, j] == pytest.approx(inter / union)
    assert np.allclose(np.diag(pairwise_iou(a, a)), 1.0)


def test_boxes_cli_refuses_a_classification_dataset(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from curator.cli import cli

    params = tmp_path / "p.yaml"  # a classification dataset's params: detection.format none
    params.write_text("balance:\n  subgroups: []\n")
    audits = str(tmp_path / "a")
    result = CliRunner().invoke(
        cli, ["boxes", "--data", str(tmp_path), "--audits", audits, "--params", str(params)]
    )
    assert result.exit_code == 5
    assert "detection.format is none" in result.output


def test_check_reads_a_detection_dataset_and_lists_the_box_checks(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from curator.cli import cli
    from tests.detection import write_images

    write_images(tmp_path)
    annotations = write_coco(tmp_path)
    params = tmp_path / "p.yaml"
    listed = ", ".join(f"{k}: {v}" for k, v in annotations.items())
    params.write_text(f"detection:\n  format: coco\n  annotations: {{{listed}}}\n")
    result = CliRunner().invoke(cli, ["check", "--data", str(tmp_path), "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert "4 images (train 3, val 1), 6 boxes of 3 classes (coco); no predictions" in result.output
    assert "  boxes " in result.output and "  box_label_quality " in result.output
    assert "  duplicates " not in result.output
