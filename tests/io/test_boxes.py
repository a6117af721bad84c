"""Detection annotations: the three formats of one dataset read into one table, and every bad
input refused with its file, its place and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from curator.errors import DataError
from curator.io.boxes import BOX_COLUMNS, read_boxes
from curator.params import DetectionParams
from tests.conftest import tree_digest
from tests.detection import CLASSES, IMAGES, write_coco, write_images, write_voc, write_yolo


def _params(fmt: str, annotations: dict[str, str], **kw) -> DetectionParams:
    extra = {"classes": "classes.txt"} if fmt == "yolo" else {}
    return DetectionParams(format=fmt, annotations=annotations, **extra | kw)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_images(root)
    return root


def _read(root: Path, fmt: str):
    writer = {"coco": write_coco, "yolo": write_yolo, "voc": write_voc}[fmt]
    return read_boxes(root, _params(fmt, writer(root)))


def test_coco_yolo_and_voc_of_one_dataset_give_identical_tables(data: Path) -> None:
    before = tree_digest(data)
    tables = {fmt: _read(data, fmt) for fmt in ("coco", "yolo", "voc")}
    coco = tables["coco"]
    assert tuple(coco.boxes.columns) == BOX_COLUMNS
    assert len(coco.boxes) == sum(len(b) for *_, b in IMAGES)
    for fmt in ("yolo", "voc"):
        pd.testing.assert_frame_equal(tables[fmt].boxes, coco.boxes)
        pd.testing.assert_frame_equal(tables[fmt].images, coco.images)
        assert tables[fmt].classes == CLASSES
    # the boxes are the ones written, in pixels
    b = coco.boxes.set_index(["path", "box_id"])
    assert tuple(b.loc[("images/train/b.png", 1), ["label", "x0", "y0", "x1", "y1"]]) == (
        "car",
        30.0,
        30.0,
        70.0,
        58.0,
    )
    assert b.loc[("images/train/b.png", 1), "area"] == 40 * 28
    assert (b.loc["images/train/b.png", "image_width"] == 80).all()
    # the image without boxes is listed, with none
    images = coco.images.set_index("path")
    assert images.loc["images/train/c.png", "n_boxes"] == 0
    assert images.loc["images/val/d.png", "split"] == "val"
    # reading wrote nothing into the data folder (the annotations were written before)
    assert set(before) <= set(tree_digest(data))
    assert all(tree_digest(data)[k] == v for k, v in before.items())


def test_unlisted_images_are_counted_not_dropped_silently(data: Path) -> None:
    (data / "images" / "train" / "extra.png").write_bytes(
        (data / "images/train/a.png").read_bytes()
    )
    listing = _read(data, "coco")
    assert listing.unlisted == ("images/train/extra.png",)


def _coco_file(data: Path) -> tuple[Path, dict]:
    annotations = write_coco(data)
    path = data / annotations["train"]
    return path, json.loads(path.read_text())


def _refused(data: Path, fmt: str, annotations: dict, *phrases: str) -> str:
    with pytest.raises(DataError) as err:
        read_boxes(data, _params(fmt, annotations))
    message = str(err.value)
    for phrase in phrases:
        assert phrase in message, message
    return message


def _rewrite(path: Path, coco: dict) -> dict[str, str]:
    path.write_text(json.dumps(coco))
    return {"train": str(path.relative_to(path.parents[1]))}


# each bad COCO input: (edit of the train file, phrases the refusal must hold)
COCO_CASES = {
    "category not declared": (
        lambda c: c["annotations"][1].update(category_id=9),
        ("train.json annotations[1]", "category_id 9", "declare it"),
    ),
    "corners out of order": (
        lambda c: c["annotations"][0].update(bbox=[30, 20, -28, 17]),
        ("annotations[0]", "out of order", "smaller coordinates first"),
    ),
    "image listed twice": (
        lambda c: c["images"].append(dict(c["images"][0], id=99)),
        ("images[3]", "already listed by", "images[0]", "list each image once"),
    ),
    "annotation for an image not listed": (
        lambda c: c["annotations"][0].update(image_id=42),
        ("annotations[0]", "image_id 42", "add the image or remove the annotation"),
    ),
    "image file missing": (
        lambda c: c["images"][0].update(file_name="train/gone.png"),
        ("images[0]", "images/train/gone.png", "does not exist"),
    ),
    "declared size not the image's": (
        lambda c: c["images"][0].update(width=48, height=64),
        ("images[0]", "declares 48x64", "is 64x48"),
    ),
}


@pytest.mark.parametrize("case", COCO_CASES)
def test_coco_bad_input(data: Path, case: str) -> None:
    edit, phrases = COCO_CASES[case]
    path, coco = _coco_file(data)
    edit(coco)
    _refused(data, "coco", _rewrite(path, coco), *phrases)


def test_coco_not_json(data: Path) -> None:
    (data / "bad.json").write_text("{not json")
    _refused(data, "coco", {"train": "bad.json"}, "bad.json", "cannot be read as JSON")


def test_voc_box_out_of_order_and_missing_xml(data: Path) -> None:
    annotations = write_voc(data)
    xml = data / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<xmin>2</xmin>", "<xmin>31</xmin>"))
    _refused(data, "voc", annotations, "a.xml object 1", "out of order")
    xml.unlink()
    _refused(data, "voc", annotations, "train.txt line 1", "a.xml does not exist", "remove the id")


def test_voc_image_listed_twice_across_splits(data: Path) -> None:
    annotations = write_voc(data)
    listing = data / "ImageSets" / "Main" / "val.txt"
    listing.write_text(listing.read_text() + "a\n")
    _refused(
        data,
        "voc",
        annotations,
        "val.txt line 2",
        "images/train/a.png is already listed",
        "train.txt line 1",
        "in one split",
    )


def test_yolo_class_index_not_declared(data: Path) -> None:
    annotations = write_yolo(data)
    label = data / "labels" / "train" / "b.txt"
    label.write_text(label.read_text().replace("2 ", "3 ", 1))
    _refused(data, "yolo", annotations, "b.txt line 1", "class index 3", "classes.txt", "0..2")


def test_yolo_labels_without_image_and_bad_lines(data: Path) -> None:
    annotations = write_yolo(data)
    folder = data / "labels" / "train"
    (folder / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    _refused(
        data,
        "yolo",
        annotations,
        "ghost.txt",
        "no image images/train/ghost",
        "remove the label file",
    )
    (folder / "ghost.txt").unlink()
    (folder / "a.txt").write_text("0 0.5 0.5 0.1\n")
    _refused(data, "yolo", annotations, "a.txt line 1", "4 fields", "class x_centre")
    (folder / "a.txt").write_text("0 32 24 28 17\n")
    _refused(data, "yolo", annotations, "a.txt line 1", "look like pixels")
    (folder / "a.txt").write_text("0 0.5 0.5 -0.2 0.1\n")
    _refused(data, "yolo", annotations, "a.txt line 1", "out of order")
    (folder / "a.txt").write_text("0 0.5 zero 0.2 0.1\n")
    _refused(data, "yolo", annotations, "a.txt line 1", "'zero' is not a number")


def test_yolo_classes_from_data_yaml(data: Path) -> None:
    annotations = write_yolo(data)
    (data / "data.yaml").write_text("names: {0: car, 1: person, 2: sign}\n")
    listing = read_boxes(data, _params("yolo", annotations, classes="data.yaml"))
    assert listing.classes == CLASSES
