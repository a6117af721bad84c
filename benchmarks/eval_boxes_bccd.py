"""Box findings on BCCD with planted box errors: precision and recall of each finding.

Usage:
  .venv/bin/python benchmarks/eval_boxes_bccd.py [--seeds 0 1 2] [--work /tmp/bccd_eval]

BCCD (../shared/devdata/bccd: 364 real blood-smear images, VOC) is extracted under --work. Its
published test split (72 images) is the held-apart part: in each seeded run, boxes there are
chosen at random and damaged, one kind of error per box (the kinds below, PER_KIND boxes of
each), plus EMPTIED test images whose boxes are all deleted; the damaged annotations are
written as VOC beside a copy of the images and `curator boxes` runs on all 364 images. A
planted box counts as found when the finding made for its kind names it (for a pair, either
box of the pair); precision is over the findings of that kind in the test images, after
removing the ones the same run makes on the undamaged annotations (BCCD's own problems, shown
apart in the last column, looked at in benchmarks/RESULTS.md). Kinds a box alone cannot show
(a box deleted, moved to another place, given another class) are planted too: they need a
detector's predictions, and the table says so by their recall.
"""

from __future__ import annotations

import argparse
import shutil
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

from curator import artifacts
from curator.params import DetectionParams, Params
from curator.stages import boxes as stage

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared/devdata/bccd/bccd-voc.tar.gz"
SPLITS = ("train", "val", "test")
PER_KIND = 10
EMPTIED = 3
KINDS = {  # planted kind -> the finding that should name it (None: a box alone cannot show it)
    "past the border": "box_outside_image",
    "collapsed to a line": "box_degenerate",
    "stretched 2.5x one way": "box_extreme_aspect",
    "shrunk to a quarter of each side": "box_tiny",
    "drawn twice (1-3 px apart)": "box_duplicate",
    "copied with another class": "box_class_overlap",
    "deleted": None,
    "moved half its size": None,
    "given another class": None,
}
CLASSES = ("Platelets", "RBC", "WBC")


def extract(work: Path) -> Path:
    root = work / "BCCD"
    if not root.exists():
        with tarfile.open(ARCHIVE) as tar:
            tar.extractall(work, filter="data")
    return root


def read_voc(root: Path) -> dict[str, list[list]]:
    out = {}
    for xml in sorted((root / "Annotations").glob("*.xml")):
        tree = ET.parse(xml).getroot()
        out[xml.stem] = [
            [
                o.findtext("name"),
                *(float(o.find("bndbox").findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")),
            ]
            for o in tree.iter("object")
        ]
    return out


def write_voc(root: Path, source: Path, boxes: dict[str, list[list]]) -> None:
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(source / "JPEGImages", root / "JPEGImages")
    shutil.copytree(source / "ImageSets", root / "ImageSets")
    (root / "Annotations").mkdir()
    for stem, objects in boxes.items():
        body = "".join(
            f"<object><name>{c}</name><bndbox><xmin>{x0:g}</xmin><ymin>{y0:g}</ymin>"
            f"<xmax>{x1:g}</xmax><ymax>{y1:g}</ymax></bndbox></object>"
            for c, x0, y0, x1, y1 in objects
        )
        (root / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename><size><width>640</width>"
            f"<height>480</height><depth>3</depth></size>{body}</annotation>"
        )


def damage(kind: str, box: list, rng: np.random.Generator) -> tuple[list, list | None]:
    """(the damaged box, a second box added beside it or None)."""
    c, x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if kind == "past the border":
        over = rng.uniform(0.2, 0.5) * w
        return [c, 640 - w + over, y0, 640 + over, y1], None
    if kind == "collapsed to a line":
        return [c, x0, y0, x0, y1], None
    if kind == "stretched 2.5x one way":
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if rng.random() < 0.5:
            return [c, max(3, cx - 1.25 * w), y0, min(637, cx + 1.25 * w), y1], None
        return [c, x0, max(3, cy - 1.25 * h), x1, min(477, cy + 1.25 * h)], None
    if kind == "shrunk to a quarter of each side":
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return [c, cx - w / 8, cy - h / 8, cx + w / 8, cy + h / 8], None
    if kind == "drawn twice (1-3 px apart)":
        dx, dy = rng.integers(1, 4, 2)
        return box, [c, x0 + dx, y0 + dy, x1 + dx, y1 + dy]
    if kind == "copied with another class":
        other = rng.choice([k for k in CLASSES if k != c])
        return box, [str(other), x0, y0, x1, y1]
    if kind == "moved half its size":
        return [c, x0 + w / 2, y0 + h / 2, x1 + w / 2, y1 + h / 2], None
    if kind == "given another class":
        return [str(rng.choice([k for k in CLASSES if k != c])), x0, y0, x1, y1], None
    raise ValueError(kind)


def voc_lists(folder: str = "") -> dict[str, str]:
    """BCCD's published splits as VOC list files, under ``folder`` (an annotator's) or not."""
    return {s: f"{folder}ImageSets/Main/{s}.txt" for s in SPLITS}


def bccd_params(**more) -> DetectionParams:
    """The detection params of a BCCD copy written by write_voc; ``more`` adds predictions,
    annotators, ..."""
    return DetectionParams(format="voc", annotations=voc_lists(), images_dir="JPEGImages", **more)


def arguments(doc: str, **options: tuple[type, object]) -> argparse.Namespace:
    """--seeds and --work, which every BCCD benchmark takes, and ``options`` (name: (type,
    default)); the work folder is made."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bccd_eval"))
    for name, (kind, default) in options.items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    return args


def run_boxes(root: Path, audits: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    stage.run(Params(detection=bccd_params()), root, audits)
    return (
        pd.read_parquet(audits / artifacts.BOXES),
        pd.read_parquet(audits / artifacts.BOX_FINDINGS),
        pd.read_parquet(audits / artifacts.findings("boxes")),
    )


def key(path: str, box) -> tuple:
    return (path, *(round(float(v), 3) for v in box[1:]))


def main() -> None:
    args = arguments(__doc__)
    source = extract(args.work)
    original = read_voc(source)
    test = [s.strip() for s in (source / "ImageSets/Main/test.txt").read_text().split()]
    _, base_found, _ = run_boxes(source, args.work / "audits_original")
    base_boxes = pd.read_parquet(args.work / "audits_original" / artifacts.BOXES)
    base = base_found.merge(base_boxes, on=["path", "box_id", "label"])
    base_keys = {
        (r.issue, key(r.path, [r.label, r.x0, r.y0, r.x1, r.y1])) for r in base.itertuples()
    }
    # planted, found, flagged in test, flagged old, flagged naming a box planted as another kind
    tally = {k: [0, 0, 0, 0, 0] for k in KINDS}
    empty_found = empty_planted = 0
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        boxes = {k: [list(b) for b in v] for k, v in original.items()}
        emptied = set(rng.choice(test, EMPTIED, replace=False).tolist())
        for stem in emptied:
            boxes[stem] = []
        slots = [(s, i) for s in test if s not in emptied for i in range(len(boxes[s]))]
        chosen = rng.choice(len(slots), PER_KIND * len(KINDS), replace=False)
        planted: dict[str, list[tuple]] = {k: [] for k in KINDS}
        deleted = []
        for n, kind in enumerate(k for k in KINDS for _ in range(PER_KIND)):
            stem, i = slots[chosen[n]]
            path = f"JPEGImages/{stem}.jpg"
            if kind == "deleted":
                deleted.append((stem, i))
                planted[kind].append(key(path, boxes[stem][i]))
                continue
            new, extra = damage(kind, boxes[stem][i], rng)
            boxes[stem][i] = new
            if extra is not None:
                boxes[stem].append(extra)
            planted[kind].append(key(path, extra if extra is not None else new))
        for stem, i in sorted(deleted, reverse=True):
            boxes[stem].pop(i)
        root = args.work / f"planted_{seed}"
        write_voc(root, source, boxes)
        table, found, flags = run_boxes(root, args.work / f"audits_{seed}")
        named = found.merge(table, on=["path", "box_id", "label"])
        coords = table.set_index(["path", "box_id"])
        in_test = named["path"].isin({f"JPEGImages/{s}.jpg" for s in test})
        every_planted = set().union(*planted.values())
        for kind, finding in KINDS.items():
            keys = set(planted[kind])
            tally[kind][0] += len(keys)
            if finding is None:
                tally[kind][1] += sum(
                    key(r.path, [r.label, r.x0, r.y0, r.x1, r.y1]) in keys
                    for r in named.itertuples()
                )
                continue
            mine = named[(named.issue == finding) & in_test]
            hit, old, other = set(), 0, 0
            for r in mine.itertuples():
                pair = [key(r.path, [r.label, r.x0, r.y0, r.x1, r.y1])]
                if r.other_box_id >= 0:
                    o = coords.loc[(r.path, r.other_box_id)]
                    pair.append(key(r.path, [o.label, o.x0, o.y0, o.x1, o.y1]))
                matched = keys.intersection(pair)
                hit |= matched
                old += not matched and (finding, pair[0]) in base_keys
                other += not matched and bool(every_planted.intersection(pair))
            tally[kind][1] += len(hit)
            tally[kind][2] += len(mine)
            tally[kind][3] += old
            tally[kind][4] += other
        empty_planted += len(emptied)
        empties = set(flags.loc[flags.issue == "image_without_boxes", "path"])
        empty_found += len(empties & {f"JPEGImages/{s}.jpg" for s in emptied})
    print(f"seeds {args.seeds}; {PER_KIND} boxes of each kind per seed in BCCD's 72 test images\n")
    print(
        "| planted | finding | recall | precision (BCCD's own flags removed) "
        "| of the rest, naming a box planted as another kind | BCCD's own flags among them |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for kind, finding in KINDS.items():
        n, hit, flagged, old, other = tally[kind]
        if finding is None:
            print(
                f"| {kind} | (needs a detector; named by any finding) | {hit / n:.2f} | - | - | - |"
            )
            continue
        new = flagged - old
        precision = f"{hit / new:.2f} ({hit} of {new})" if new else "-"
        cells = f"{precision} | {other} | {old}"
        print(f"| {kind} | {finding} | {hit / n:.2f} ({hit} of {n}) | {cells} |")
    print(
        f"| an image's boxes all deleted | image_without_boxes | {empty_found / empty_planted:.2f} "
        f"({empty_found} of {empty_planted}) | - | - | - |"
    )


if __name__ == "__main__":
    main()
