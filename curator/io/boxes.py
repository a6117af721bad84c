"""Read a detection dataset's boxes from COCO JSON, YOLO txt or Pascal VOC XML into one table.

Whatever the format, every box becomes one row in pixels (x0, y0) - (x1, y1), sorted the same
way, so the three formats of one dataset give identical tables. Everything a format lets a file
get wrong is refused up front with the file, the place in it and the fix: a category or class
index not declared, four numbers out of order (a negative width, xmax before xmin), an image
listed twice, an annotation for an image that is not there, a declared size that is not the
image's. What is odd but legal (a box past the border, one of zero area) is kept for the box
findings (checks/boxes.py). Images the annotations do not list are counted, never dropped
silently; the data folder is only read.
"""

from __future__ import annotations

import json
import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import yaml
from PIL import Image

from curator.errors import DataError
from curator.io.sources import safe_relpath
from curator.params import IMAGE_EXTENSIONS, DetectionParams

log = logging.getLogger(__name__)

BOX_COLUMNS = (
    "path",
    "split",
    "box_id",
    "label",
    "x0",
    "y0",
    "x1",
    "y1",
    "box_width",
    "box_height",
    "area",
    "image_width",
    "image_height",
    "crowd",
    "annotator",
)
IMAGE_COLUMNS = ("path", "split", "width", "height", "n_boxes")
DECIMALS = 3  # coordinates kept to a thousandth of a pixel: YOLO's fractions round-trip
YOLO_PIXELS_LIKE = 2.0  # a normalised YOLO number above this is a pixel count


@dataclass
class _Image:
    """One annotated image as a format's reader found it."""

    rel: str  # path relative to the data folder
    split: str
    where: str  # file (and place) that lists it, for messages
    size: tuple[int, int] | None = None  # (width, height) the annotation declares
    boxes: list[tuple] = field(default_factory=list)  # (label, x0, y0, x1, y1, crowd, where)
    coco_id: Any = None  # the image's id in its COCO file


@dataclass(frozen=True)
class BoxListing:
    images: pd.DataFrame  # IMAGE_COLUMNS: every annotated image, with boxes or without
    boxes: pd.DataFrame  # BOX_COLUMNS
    classes: tuple[str, ...]  # in the format's own order (COCO categories, YOLO indices)
    unlisted: tuple[str, ...]  # images under images_dir that no annotation lists
    # how predictions name images and classes: (split, COCO image id) -> path; category id (COCO)
    # or class index (YOLO, VOC) -> class
    image_ids: dict[tuple[str, Any], str] = field(default_factory=dict)
    category_ids: dict[Any, str] = field(default_factory=dict)


def _number(value: object, where: str, what: str) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x):
        raise DataError(f"{where}: {what} {value!r} is not a number; write a finite number.")
    return x


def _in_order(x0: float, y0: float, x1: float, y1: float, where: str, spelt: str) -> None:
    if x1 < x0 or y1 < y0:
        raise DataError(
            f"{where}: box {spelt} has its corners out of order (the far corner before the "
            "near one); write the smaller coordinates first."
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as JSON ({exc}); export it again.") from exc


def _coco_box(bbox: Any, where: str) -> tuple[float, float, float, float]:
    """A COCO [x, y, width, height] as corners (x0, y0, x1, y1), refused when it is not four
    numbers in order."""
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise DataError(f"{where}: bbox must be four numbers [x, y, width, height].")
    x, y, w, h = (_number(v, where, "bbox value") for v in bbox)
    _in_order(x, y, x + w, y + h, where, f"[x, y, width, height] = {bbox}")
    return x, y, x + w, y + h


def _load_json(path: Path) -> dict:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: a COCO file is an object with images, annotations, categories.")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(
                f"{path}: no list '{key}'; a COCO file needs images, annotations and categories."
            )
    return data


def _coco(root: Path, split: str, rel: str, params: DetectionParams, names: dict) -> Iterator:
    path = root / rel
    data = _load_json(path)
    for k, cat in enumerate(data["categories"]):
        where = f"{path} categories[{k}]"
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            raise DataError(f"{where}: a category needs an id and a name.")
        known = names.setdefault(cat["id"], str(cat["name"]))
        if known != str(cat["name"]):
            raise DataError(
                f"{where}: category id {cat['id']} is named {cat['name']!r} here and "
                f"{known!r} before; give each id one name in every file."
            )
    images: dict = {}
    for k, entry in enumerate(data["images"]):
        where = f"{path} images[{k}]"
        if not isinstance(entry, dict) or "id" not in entry or "file_name" not in entry:
            raise DataError(f"{where}: an image needs an id and a file_name.")
        if entry["id"] in images:
            raise DataError(
                f"{where}: image id {entry['id']} is already used by "
                f"{images[entry['id']].where}; give each image one id."
            )
        image_rel = safe_relpath(root, f"{params.images_dir}/{entry['file_name']}", where)
        size = None
        if "width" in entry and "height" in entry:
            size = (
                int(_number(entry["width"], where, "width")),
                int(_number(entry["height"], where, "height")),
            )
        images[entry["id"]] = _Image(image_rel, split, where, size, coco_id=entry["id"])
    for k, ann in enumerate(data["annotations"]):
        where = f"{path} annotations[{k}]"
        if not isinstance(ann, dict):
            raise DataError(
                f"{where}: an annotation is an object with image_id, category_id, bbox."
            )
        if ann.get("image_id") not in images:
            raise DataError(
                f"{where}: image_id {ann.get('image_id')!r} is not in images; add the "
                "image or remove the annotation."
            )
        if ann.get("category_id") not in names:
            raise DataError(
                f"{where}: category_id {ann.get('category_id')!r} is not declared in "
                f"categories (ids: {sorted(names)}); declare it or fix the id."
            )
        corners = _coco_box(ann.get("bbox"), where)
        crowd = bool(ann.get("iscrowd", 0))
        images[ann["image_id"]].boxes.append((names[ann["category_id"]], *corners, crowd, where))
    yield from images.values()


def read_classes(root: Path, rel: str) -> tuple[str, ...]:
    """YOLO class names by index: a text file (one a line) or a data.yaml with ``names``."""
    path = root / safe_relpath(root, rel, "params: detection.classes")
    if not path.is_file():
        raise DataError(f"{path} does not exist; fix detection.classes in params.yaml.")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        names = (yaml.safe_load(text) or {}).get("names")
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
        if not isinstance(names, list):
            raise DataError(f"{path}: no 'names' list; a YOLO data.yaml names its classes.")
        return tuple(str(n) for n in names)
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _yolo(root: Path, split: str, rel: str, params: DetectionParams, classes: tuple) -> Iterator:
    labels = root / safe_relpath(root, rel, f"params: detection.annotations.{split}")
    if not labels.is_dir():
        raise DataError(
            f"{labels} is not a folder; detection.annotations.{split} names the "
            "folder of YOLO .txt files for that split."
        )
    image_dir = PurePosixPath(params.images_dir) / split
    stems = _images_by_stem(root, image_dir)
    declared = str(params.classes)
    seen = set()
    for label_file in sorted(labels.glob("*.txt")):
        where_file = f"{label_file}"
        candidates = stems.get(label_file.stem, [])
        if not candidates:
            raise DataError(
                f"{where_file}: no image {image_dir}/{label_file.stem}.* for these "
                "boxes; add the image or remove the label file."
            )
        if len(candidates) > 1:
            raise DataError(
                f"{where_file}: {', '.join(candidates)} share its name; keep one "
                "image per label file."
            )
        image = _Image(candidates[0], split, where_file)
        seen.add(label_file.stem)
        for where, label, cx, cy, w, h, _ in _yolo_lines(label_file, classes, False, declared):
            image.boxes.append((label, cx, cy, w, h, False, where))
        yield image
    for stem, paths in sorted(stems.items()):  # YOLO: an image without a label file has none
        if stem not in seen:
            yield _Image(paths[0], split, f"{image_dir} (no label file)")


def _yolo_lines(file: Path, classes: tuple, scored: bool, declared: str) -> Iterator[tuple]:
    """(where, class, x_centre, y_centre, width, height, score or None) for each line of a YOLO
    txt file ('class x_centre y_centre width height', normalised to 0..1, then the score when
    ``scored``); refused with the line and the fix on bad input."""
    shape = "class x_centre y_centre width height" + (" score" if scored else "")
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file} line {n}"
        parts = line.split()
        if len(parts) != len(shape.split()):
            raise DataError(
                f"{where}: {len(parts)} fields; a YOLO {'prediction' if scored else 'box'} is "
                f"'{shape}' (normalised to 0..1)."
            )
        index = _number(parts[0], where, "class index")
        if index != int(index) or not 0 <= index < len(classes):
            raise DataError(
                f"{where}: class index {parts[0]} is not declared in {declared} ({len(classes)} "
                f"classes, 0..{len(classes) - 1}); fix the index or add the class."
            )
        cx, cy, w, h = (_number(v, where, "coordinate") for v in parts[1:5])
        if max(cx, cy, w, h) > YOLO_PIXELS_LIKE:
            raise DataError(
                f"{where}: {' '.join(parts[1:5])} look like pixels; YOLO wants them divided by "
                "the image's width and height."
            )
        spelt = f"with width {parts[3]} and height {parts[4]}"
        _in_order(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, where, spelt)
        yield where, classes[int(index)], cx, cy, w, h, _score(parts[5], where) if scored else None


def _pixel_corners(cx, cy, w, h, width: int, height: int) -> tuple[float, ...]:
    """YOLO's normalised centre and size as pixel corners (x0, y0, x1, y1)."""
    return (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height


def _images_by_stem(root: Path, image_dir: PurePosixPath) -> dict[str, list[str]]:
    folder = root / image_dir
    if not folder.is_dir():
        raise DataError(
            f"{folder} is not a folder; YOLO images sit in "
            "detection.images_dir/<split>/ beside labels/<split>/."
        )
    stems: dict[str, list[str]] = {}
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
            stems.setdefault(f.stem, []).append(f"{image_dir}/{f.name}")
    return stems


def _xml_text(node: ET.Element, tag: str, where: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise DataError(f"{where}: no <{tag}>; every VOC object and image needs one.")
    return child.text.strip()


def _voc(root: Path, split: str, rel: str, params: DetectionParams) -> Iterator:
    listing = root / safe_relpath(root, rel, f"params: detection.annotations.{split}")
    if not listing.is_file():
        raise DataError(
            f"{listing} does not exist; detection.annotations.{split} names the VOC "
            "list of image ids (ImageSets/Main/<split>.txt)."
        )
    # the XML folder sits beside the list's ImageSets/ (the data folder for the main annotations,
    # an annotator's own folder for theirs)
    parts = PurePosixPath(rel).parts
    beside = parts[:-3] if parts[-3:-1] == ("ImageSets", "Main") else ()
    xml_dir = PurePosixPath(*beside, params.voc_annotations_dir)
    for n, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), start=1):
        image_id = line.split()[0] if line.strip() else ""
        if not image_id:
            continue
        xml_path = root / safe_relpath(root, f"{xml_dir}/{image_id}.xml", f"{listing} line {n}")
        if not xml_path.is_file():
            raise DataError(
                f"{listing} line {n}: {xml_path} does not exist; add the annotation "
                "or remove the id."
            )
        try:
            tree = ET.parse(xml_path).getroot()
        except ET.ParseError as exc:
            raise DataError(f"{xml_path}: not valid XML ({exc}); export it again.") from exc
        filename = tree.findtext("filename") or f"{image_id}.jpg"
        image_rel = safe_relpath(root, f"{params.images_dir}/{filename.strip()}", str(xml_path))
        size_node = tree.find("size")
        size = None
        if size_node is not None and size_node.findtext("width"):
            size = (
                int(_number(size_node.findtext("width"), f"{xml_path} <size>", "width")),
                int(_number(size_node.findtext("height"), f"{xml_path} <size>", "height")),
            )
            size = None if size == (0, 0) else size  # many tools write 0 for "not recorded"
        image = _Image(image_rel, split, f"{listing} line {n}", size)
        for k, obj in enumerate(tree.iter("object"), start=1):
            where = f"{xml_path} object {k}"
            name = _xml_text(obj, "name", where)
            bndbox = obj.find("bndbox")
            if bndbox is None:
                raise DataError(f"{where}: no <bndbox>; every VOC object needs one.")
            x0, y0, x1, y1 = (
                _number(_xml_text(bndbox, t, where), where, t)
                for t in ("xmin", "ymin", "xmax", "ymax")
            )
            _in_order(x0, y0, x1, y1, where, f"({x0:g}, {y0:g}, {x1:g}, {y1:g})")
            image.boxes.append((name, x0, y0, x1, y1, False, where))
        yield image


def _image_size(path: Path, where: str) -> tuple[int, int]:
    try:
        with Image.open(path) as img:  # reads the header only
            return img.size
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"{where}: {path} cannot be read as an image ({exc}); replace the file "
            "or remove its entry."
        ) from exc


def read_boxes(root: Path, params: DetectionParams, warn_unlisted: bool = True) -> BoxListing:
    """Every box of the dataset in pixels, one row each; refused with file and fix on bad input.
    Images under images_dir that no annotation lists are logged (``warn_unlisted``)."""
    root = Path(root)
    names: dict = {}
    if params.format == "coco":
        found = [
            im for s, r in params.annotations.items() for im in _coco(root, s, r, params, names)
        ]
        classes = tuple(names[k] for k in names)
    elif params.format == "yolo":
        classes = read_classes(root, params.classes or "")
        found = [
            im for s, r in params.annotations.items() for im in _yolo(root, s, r, params, classes)
        ]
    elif params.format == "voc":
        found = [im for s, r in params.annotations.items() for im in _voc(root, s, r, params)]
        classes = tuple(sorted({b[0] for im in found for b in im.boxes}))
    else:
        raise DataError("detection.format is none: set it to coco, yolo or voc in params.yaml.")
    first: dict[str, _Image] = {}
    image_rows, box_rows = [], []
    for image in found:
        if image.rel in first:
            raise DataError(
                f"{image.where}: {image.rel} is already listed by "
                f"{first[image.rel].where}; list each image once, in one split."
            )
        first[image.rel] = image
        path = root / image.rel
        if not path.is_file():
            raise DataError(
                f"{image.where}: image {image.rel} does not exist under {root}; add "
                "it or remove its annotation."
            )
        width, height = _image_size(path, image.where)
        if image.size is not None and image.size != (width, height):
            raise DataError(
                f"{image.where}: declares {image.size[0]}x{image.size[1]} but "
                f"{image.rel} is {width}x{height} (rotated or resized since?); fix "
                "the size or the image, or the boxes land in the wrong place."
            )
        image_rows.append((image.rel, image.split, width, height, len(image.boxes)))
        for label, a, b, c, d, crowd, _ in image.boxes:
            if params.format == "yolo":
                a, b, c, d = _pixel_corners(a, b, c, d, width, height)
            box_rows.append((image.rel, image.split, label, a, b, c, d, width, height, crowd))
    boxes = _box_table(box_rows)
    images = pd.DataFrame(image_rows, columns=list(IMAGE_COLUMNS))
    images = images.sort_values("path", ignore_index=True)
    unlisted = _unlisted(root, params.images_dir, set(first))
    if unlisted and warn_unlisted:
        log.warning(
            "%d image(s) under %s are in no annotation file and are not audited: %s%s",
            len(unlisted),
            root / params.images_dir,
            ", ".join(unlisted[:3]),
            " ..." if len(unlisted) > 3 else "",
        )
    image_ids = {(im.split, im.coco_id): im.rel for im in found if im.coco_id is not None}
    category_ids = dict(names) if params.format == "coco" else dict(enumerate(classes))
    return BoxListing(images, boxes, classes, unlisted, image_ids, category_ids)


def _box_table(rows: list[tuple]) -> pd.DataFrame:
    columns = [
        "path",
        "split",
        "label",
        "x0",
        "y0",
        "x1",
        "y1",
        "image_width",
        "image_height",
        "crowd",
    ]
    df = pd.DataFrame(rows, columns=columns)
    for c in ("x0", "y0", "x1", "y1"):
        df[c] = df[c].astype(float).round(DECIMALS)
    df = df.sort_values(["path", "x0", "y0", "x1", "y1", "label"], ignore_index=True)
    df["box_id"] = df.groupby("path").cumcount().astype("int64")
    df["box_width"] = (df["x1"] - df["x0"]).round(DECIMALS)
    df["box_height"] = (df["y1"] - df["y0"]).round(DECIMALS)
    df["area"] = (df["box_width"] * df["box_height"]).round(DECIMALS)
    df["crowd"] = df["crowd"].astype(bool)
    df["annotator"] = ""
    for c in ("path", "split", "label", "annotator"):
        df[c] = df[c].astype("string")
    df[["image_width", "image_height"]] = df[["image_width", "image_height"]].astype("int64")
    return df[list(BOX_COLUMNS)]


def _unlisted(root: Path, images_dir: str, listed: set[str]) -> tuple[str, ...]:
    base = root / images_dir
    if not base.is_dir():
        return ()
    found = (
        p.relative_to(root).as_posix()
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    return tuple(rel for rel in found if rel not in listed)


def read_annotators(root: Path, params: DetectionParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every annotator's boxes, BOX_COLUMNS with annotator set; the images each labelled,
    annotator and path) from detection.annotators, each read and checked like the main
    annotations. An annotator may label a subset of the images."""
    boxes, labelled = [], []
    for name, files in sorted(params.annotators.items()):
        own = replace(params, annotations=files, predictions={}, annotators={})
        listing = read_boxes(root, own, warn_unlisted=False)
        boxes.append(
            listing.boxes.assign(annotator=pd.array([name] * len(listing.boxes), "string"))
        )
        labelled.append(pd.DataFrame({"annotator": name, "path": listing.images["path"]}))
    return pd.concat(boxes, ignore_index=True), pd.concat(labelled, ignore_index=True)


PREDICTION_COLUMNS = ("path", "split", "label", "x0", "y0", "x1", "y1", "score")


def read_predictions(root: Path, params: DetectionParams, listing: BoxListing) -> pd.DataFrame:
    """The detector's boxes (PREDICTION_COLUMNS, pixels) from detection.predictions: per split a
    COCO results file or a folder of YOLO txt files with scores; refused with file, place and
    fix when an image or class is not the dataset's or a number is not one."""
    root = Path(root)
    by_path = listing.images.set_index("path")
    rows: list[tuple] = []
    for split, rel in params.predictions.items():
        path = root / safe_relpath(root, rel, f"params: detection.predictions.{split}")
        if path.is_dir():
            rows += _yolo_predictions(path, split, listing)
        elif path.is_file():
            rows += _coco_results(root, path, split, params, listing)
        else:
            raise DataError(
                f"{path} does not exist; detection.predictions.{split} names a COCO "
                "results file or a folder of YOLO txt files."
            )
    for p, split, *_ in rows:
        if p not in by_path.index:
            raise DataError(
                f"predictions name {p}, which the annotations do not list; predict on the "
                "dataset's images only."
            )
        if by_path.at[p, "split"] != split:
            raise DataError(
                f"detection.predictions.{split} holds boxes for {p}, an image of split "
                f"{by_path.at[p, 'split']!r}; give each split's predictions under its own name."
            )
    table = pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))
    for c in ("x0", "y0", "x1", "y1"):
        table[c] = table[c].astype(float).round(DECIMALS)
    for c in ("path", "split", "label"):
        table[c] = table[c].astype("string")
    return table.sort_values(["path", "score"], ascending=[True, False], ignore_index=True)


def _score(value: object, where: str) -> float:
    score = _number(value, where, "score")
    if not 0 <= score <= 1:
        raise DataError(
            f"{where}: score {value!r} is not in [0, 1]; give the detector's "
            "confidence as a probability."
        )
    return score


def _coco_results(
    root: Path, path: Path, split: str, params: DetectionParams, listing: BoxListing
) -> list[tuple]:
    results = _read_json(path)
    if not isinstance(results, list):
        raise DataError(
            f"{path}: COCO results are a list of {{image_id, category_id, bbox, score}}."
        )
    rows = []
    for k, r in enumerate(results):
        where = f"{path} [{k}]"
        if not isinstance(r, dict) or not {"image_id", "category_id", "bbox", "score"} <= set(r):
            raise DataError(f"{where}: a result needs image_id, category_id, bbox and score.")
        image = listing.image_ids.get((split, r["image_id"]))
        if image is None and isinstance(r["image_id"], str):
            image = f"{PurePosixPath(params.images_dir) / r['image_id']}"
        if image is None:
            raise DataError(
                f"{where}: image_id {r['image_id']!r} is no image of the {split} "
                "annotations; use its id there (COCO) or its path under images_dir."
            )
        if r["category_id"] not in listing.category_ids:
            raise DataError(
                f"{where}: category_id {r['category_id']!r} is not a class of the "
                f"dataset (ids: {sorted(listing.category_ids)})."
            )
        corners = _coco_box(r["bbox"], where)
        label = listing.category_ids[r["category_id"]]
        rows.append((image, split, label, *corners, _score(r["score"], where)))
    return rows


def _yolo_predictions(folder: Path, split: str, listing: BoxListing) -> list[tuple]:
    images = listing.images[listing.images["split"] == split]
    by_stem = {
        PurePosixPath(p).stem: (p, w, h)
        for p, w, h in images[["path", "width", "height"]].itertuples(index=False)
    }
    declared = f"the dataset's classes ({', '.join(listing.classes)})"
    rows = []
    for file in sorted(folder.glob("*.txt")):
        if file.stem not in by_stem:
            raise DataError(
                f"{file}: no image of the {split} split is named {file.stem}; "
                "predict on the dataset's images only."
            )
        image, width, height = by_stem[file.stem]
        for _, label, cx, cy, w, h, score in _yolo_lines(file, listing.classes, True, declared):
            corners = _pixel_corners(cx, cy, w, h, width, height)
            rows.append((image, split, label, *corners, score))
    return rows
