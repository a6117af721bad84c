"""Label errors from a detector on BCCD with planted box errors: recall and precision of the
overlooked, swapped and badly located findings (cleanlab ObjectLab through `curator boxes`).

Usage:
  .venv/bin/python benchmarks/eval_box_label_errors_bccd.py [--seeds 0 1 2] [--work /tmp/bccd_eval]

No trained detector is available offline, so the detector is simulated, and says so: it sees
BCCD's own boxes (before any planting), finds each with probability --find (corners jittered by
a normal of --jitter px, confidence drawn from [0.95, 1)), gives the rest a weak confidence
([0.3, 0.6)), and adds false alarms (--false-alarms per image, confidence [0.05, 0.5)). In each
seeded run, PER_KIND boxes of BCCD's 72 test images are deleted, given another class or moved
half their size; the stage runs on all 364 images with the predictions. A planted box counts as
found when the finding of its kind names it (an overlooked object: the detector's box at IoU
>= 0.5 with the deleted one). Precision: over that finding's flags in the test images, less
those the same run makes on the unplanted annotations. What this measures is ObjectLab's
decision and curator's plumbing given a good detector, not a real detector's own errors: BCCD's
real unboxed cells are invisible to a detector that only sees the given boxes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from curator import artifacts
from curator.checks.boxes import pairwise_iou
from curator.params import EvaluateParams, Params
from curator.stages import boxes as stage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.eval_boxes_bccd import (
    CLASSES,
    SPLITS,
    arguments,
    bccd_params,
    damage,
    extract,
    read_voc,
    write_voc,
)

PER_KIND = 10
KINDS = {
    "deleted": "box_overlooked",
    "given another class": "box_swapped",
    "moved half its size": "box_badly_located",
}


def simulate(boxes: dict[str, list], rng, find: float, jitter: float, false_alarms: float) -> list:
    results = []
    for stem, objects in sorted(boxes.items()):
        image_id = f"{stem}.jpg"
        for c, x0, y0, x1, y1 in objects:
            j = rng.normal(0, jitter, 4)
            a, b = x0 + j[0], y0 + j[1]
            w, h = max(1.0, x1 + j[2] - a), max(1.0, y1 + j[3] - b)
            score = rng.uniform(0.95, 1.0) if rng.random() < find else rng.uniform(0.3, 0.6)
            results.append(
                {
                    "image_id": image_id,
                    "category_id": CLASSES.index(c),
                    "bbox": [a, b, w, h],
                    "score": score,
                }
            )
        for _ in range(rng.poisson(false_alarms)):
            a, b = rng.uniform(0, 560), rng.uniform(0, 400)
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(rng.integers(3)),
                    "bbox": [a, b, 60.0, 60.0],
                    "score": rng.uniform(0.05, 0.5),
                }
            )
    return [
        r | {"bbox": [float(v) for v in r["bbox"]], "score": float(r["score"])} for r in results
    ]


def run(root: Path, audits: Path, results: list) -> pd.DataFrame:
    for split in SPLITS:
        stems = set((root / f"ImageSets/Main/{split}.txt").read_text().split())
        mine = [r for r in results if r["image_id"].removesuffix(".jpg") in stems]
        (root / f"predictions_{split}.json").write_text(json.dumps(mine))
    detection = bccd_params(predictions={s: f"predictions_{s}.json" for s in SPLITS})
    # mAP is not what is measured here: no bootstrap
    stage.run(Params(detection=detection, evaluate=EvaluateParams(n_bootstrap=0)), root, audits)
    return pd.read_parquet(audits / artifacts.BOX_FINDINGS)


def corners(detail: str) -> np.ndarray:
    """The first (x0, y0)-(x1, y1) a flag's detail names."""
    inner = detail.split(" (", 1)[1] if detail.startswith("box ") else detail
    text = inner[inner.index("(") + 1 :]
    a, b = text.split(")-(", 1)
    x0, y0 = (float(v) for v in a.split(", "))
    x1, y1 = (float(v) for v in b.split(")", 1)[0].split(", "))
    return np.array([x0, y0, x1, y1])


def main() -> None:
    args = arguments(__doc__, find=(float, 0.9), jitter=(float, 3.0), false_alarms=(float, 0.5))
    source = extract(args.work)
    original = read_voc(source)
    test = [s.strip() for s in (source / "ImageSets/Main/test.txt").read_text().split()]
    test_paths = {f"JPEGImages/{s}.jpg" for s in test}
    # planted, found, flags in test (less the unplanted run's), flags naming a planted box of the
    # kind, flags naming another planted error (a moved box's old place is an unboxed object)
    tally = {k: [0, 0, 0, 0, 0] for k in KINDS}
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        results = simulate(original, rng, args.find, args.jitter, args.false_alarms)
        root = args.work / f"labels_{seed}"
        write_voc(root, source, original)
        base = run(root, args.work / f"labels_audits_base_{seed}", results)
        base_keys = {
            (r.issue, r.path, tuple(corners(r.detail).round(1))) for r in base.itertuples()
        }
        boxes = {k: [list(b) for b in v] for k, v in original.items()}
        slots = [(s, i) for s in test for i in range(len(boxes[s]))]
        chosen = rng.choice(len(slots), PER_KIND * len(KINDS), replace=False)
        planted: dict[str, list] = {k: [] for k in KINDS}
        deleted, old_places = [], []
        for n, kind in enumerate(k for k in KINDS for _ in range(PER_KIND)):
            stem, i = slots[chosen[n]]
            if kind == "deleted":
                deleted.append((stem, i))
                planted[kind].append((f"JPEGImages/{stem}.jpg", np.array(boxes[stem][i][1:])))
                continue
            new, _ = damage(kind, boxes[stem][i], rng)
            old_places.append((f"JPEGImages/{stem}.jpg", np.array(boxes[stem][i][1:])))
            boxes[stem][i] = new
            planted[kind].append((f"JPEGImages/{stem}.jpg", np.array(new[1:])))
        for stem, i in sorted(deleted, reverse=True):
            boxes[stem].pop(i)
        write_voc(root, source, boxes)
        found = run(root, args.work / f"labels_audits_{seed}", results)
        for kind, issue in KINDS.items():
            mine = found[(found.issue == issue) & found.path.isin(test_paths)]
            named = [(r.path, corners(r.detail)) for r in mine.itertuples()]
            hit = set()
            for k, (path, box) in enumerate(planted[kind]):
                for path2, box2 in named:
                    if path2 == path and pairwise_iou(box[None], box2[None])[0, 0] >= 0.5:
                        hit.add(k)

            def names(place, path2, box2) -> bool:
                return place[0] == path2 and pairwise_iou(place[1][None], box2[None])[0, 0] >= 0.5

            matched_flags = sum(any(names(p, *f) for p in planted[kind]) for f in named)
            others = [p for k, v in planted.items() if k != kind for p in v] + old_places
            other_flags = sum(
                not any(names(p, *f) for p in planted[kind]) and any(names(p, *f) for p in others)
                for f in named
            )
            old = sum((issue, p, tuple(b.round(1))) in base_keys for p, b in named)
            tally[kind][0] += len(planted[kind])
            tally[kind][1] += len(hit)
            tally[kind][2] += len(named) - old
            tally[kind][3] += matched_flags
            tally[kind][4] += other_flags
    print(
        f"seeds {args.seeds}; simulated detector: finds {args.find:.0%} of BCCD's boxes "
        f"(jitter {args.jitter:g} px), {args.false_alarms:g} false alarms per image; "
        f"{PER_KIND} boxes of each kind planted per seed in the 72 test images\n"
    )
    print(
        "| planted | finding | recall | precision (flags on unplanted annotations removed) "
        "| of the rest, naming another planted error |"
    )
    print("| --- | --- | ---: | ---: | ---: |")
    for kind, issue in KINDS.items():
        n, hit, new, matched, other = tally[kind]
        precision = f"{matched / new:.2f} ({matched} of {new})" if new else "-"
        print(f"| {kind} | {issue} | {hit / n:.2f} ({hit} of {n}) | {precision} | {other} |")


if __name__ == "__main__":
    main()
