"""A small detection dataset the tests write: real images, boxes in whole pixels, and writers
for the three formats curator reads (each in its own convention), so one set of boxes can be
saved as COCO, YOLO and VOC and read back."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_image

CLASSES = ("car", "person", "sign")  # sorted: VOC's class order is the sorted names
# (path under images/<split>/, size, boxes as (class, x0, y0, x1, y1) in pixels)
IMAGES = (
    ("train", "a.png", (64, 48), [("car", 2, 3, 30, 20), ("person", 40, 5, 50, 40)]),
    ("train", "b.png", (80, 60), [("sign", 10, 10, 20, 20), ("car", 30, 30, 70, 58)]),
    ("train", "c.png", (50, 50), []),  # an image with no boxes
    ("val", "d.png", (40, 30), [("person", 0, 0, 12, 30), ("person", 15, 2, 39, 29)]),
)


def write_images(root: Path) -> None:
    for k, (split, name, size, _) in enumerate(IMAGES):
        write_image(root / "images" / split / name, seed=k, size=size)


def write_coco(root: Path, images=IMAGES, classes=CLASSES) -> dict[str, str]:
    """One COCO file per split; returns detection.annotations."""
    out = {}
    for split in sorted({s for s, *_ in images}):
        data = {"images": [], "annotations": [], "categories": []}
        data["categories"] = [{"id": k + 1, "name": c} for k, c in enumerate(classes)]
        for k, (s, name, (w, h), boxes) in enumerate(images):
            if s != split:
                continue
            data["images"].append(
                {"id": k, "file_name": f"{split}/{name}", "width": w, "height": h}
            )
            for c, x0, y0, x1, y1 in boxes:
                data["annotations"].append(
                    {
                        "id": len(data["annotations"]) + 1,
                        "image_id": k,
                        "category_id": classes.index(c) + 1,
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "area": (x1 - x0) * (y1 - y0),
                        "iscrowd": 0,
                    }
                )
        rel = f"annotations/{split}.json"
        (root / "annotations").mkdir(exist_ok=True)
        (root / rel).write_text(json.dumps(data))
        out[split] = rel
    return out


def write_yolo(root: Path, images=IMAGES, classes=CLASSES) -> dict[str, str]:
    """labels/<split>/<stem>.txt beside images/<split>/ and classes.txt; an image without
    boxes gets no label file (YOLO's background image)."""
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    out = {}
    for split, name, (w, h), boxes in images:
        folder = root / "labels" / split
        folder.mkdir(parents=True, exist_ok=True)
        out[split] = f"labels/{split}"
        if boxes:
            lines = [
                f"{classes.index(c)} {(x0 + x1) / 2 / w!r} {(y0 + y1) / 2 / h!r} "
                f"{(x1 - x0) / w!r} {(y1 - y0) / h!r}"
                for c, x0, y0, x1, y1 in boxes
            ]
            (folder / f"{Path(name).stem}.txt").write_text("\n".join(lines) + "\n")
    return out


def write_voc(root: Path, images=IMAGES) -> dict[str, str]:
    """Annotations/<stem>.xml and ImageSets/Main/<split>.txt; filenames under images/."""
    (root / "Annotations").mkdir(exist_ok=True)
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    lists: dict[str, list[str]] = {}
    for split, name, (w, h), boxes in images:
        stem = Path(name).stem
        lists.setdefault(split, []).append(stem)
        objects = "".join(
            f"<object><name>{c}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
            for c, x0, y0, x1, y1 in boxes
        )
        (root / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{split}/{name}</filename><size><width>{w}</width>"
            f"<height>{h}</height><depth>3</depth></size>{objects}</annotation>"
        )
    for split, stems in lists.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(stems) + "\n")
    return {split: f"ImageSets/Main/{split}.txt" for split in lists}
