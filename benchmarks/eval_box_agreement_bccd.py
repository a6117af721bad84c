"""Agreement on boxes on BCCD: a second annotator simulated with known habits, and what
`curator boxes` measures of them.

Usage:
  .venv/bin/python benchmarks/eval_box_agreement_bccd.py [--seeds 0 1 2] [--work /tmp/bccd_eval]

BCCD has one annotator. The second (bob) is simulated from BCCD's boxes, and says so: he
skips each box with probability --miss, moves each corner by a normal of --jitter px, gives a
box another class with probability --swap, and adds --extra boxes per image of his own. Both
are read as VOC (bob's XML beside his ImageSets/) and the stage measures precision, recall,
class agreement (kappa) and the images where the two disagree. The table sets each measured
rate beside the rate the simulation planted (on the boxes that stay matched at IoU 0.5).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.eval_boxes_bccd import (
    CLASSES,
    arguments,
    bccd_params,
    extract,
    read_voc,
    voc_lists,
    write_voc,
)
from curator.params import Params
from curator.stages import boxes as stage


def simulate(original: dict, rng, miss: float, jitter: float, swap: float, extra: float):
    bob, counts = {}, {"kept": 0, "swapped": 0, "added": 0, "boxes": 0}
    for stem, objects in original.items():
        mine = []
        for c, x0, y0, x1, y1 in objects:
            counts["boxes"] += 1
            if rng.random() < miss:
                continue
            counts["kept"] += 1
            if rng.random() < swap:
                c = str(rng.choice([k for k in CLASSES if k != c]))
                counts["swapped"] += 1
            j = rng.normal(0, jitter, 4)
            mine.append(
                [
                    c,
                    x0 + j[0],
                    y0 + j[1],
                    max(x0 + j[0] + 1, x1 + j[2]),
                    max(y0 + j[1] + 1, y1 + j[3]),
                ]
            )
        for _ in range(rng.poisson(extra)):
            x, y = rng.uniform(0, 560), rng.uniform(0, 400)
            mine.append([str(rng.choice(CLASSES)), x, y, x + 60, y + 60])
            counts["added"] += 1
        bob[stem] = mine
    return bob, counts


def main() -> None:
    args = arguments(
        __doc__, miss=(float, 0.1), jitter=(float, 3.0), swap=(float, 0.05), extra=(float, 0.3)
    )
    source = extract(args.work)
    original = read_voc(source)
    print(
        f"simulated second annotator: misses {args.miss:.0%}, jitter {args.jitter:g} px, swaps "
        f"{args.swap:.0%}, adds {args.extra:g} boxes per image\n"
    )
    print(
        "| seed | recall of bob (planted / measured, CI) | precision of bob (planted / "
        "measured, CI) | class agreement on matched (planted / measured) | kappa (CI) | images "
        "disagreeing |"
    )
    print("| --- | --- | --- | --- | --- | ---: |")
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        root = args.work / f"agree_{seed}"
        write_voc(root, source, original)
        bob, n = simulate(original, rng, args.miss, args.jitter, args.swap, args.extra)
        write_voc(root / "bob", source, bob)
        shutil.rmtree(root / "bob" / "JPEGImages")
        annotators = {"given": voc_lists(), "bob": voc_lists("bob/")}
        detection = bccd_params(annotators=annotators, n_bootstrap=200)
        s = stage.run(Params(detection=detection), root, args.work / f"agree_audits_{seed}")
        pair = s["agreement"]["pairs"][0]
        assert (pair["a"], pair["b"]) == ("bob", "given")
        rec, prec = pair["recall_a"], pair["precision_a"]
        planted_recall = n["kept"] / n["boxes"]
        planted_precision = n["kept"] / (n["kept"] + n["added"])
        planted_agree = 1 - n["swapped"] / n["kept"]
        cell = lambda r: f"{r['value']:.3f} ({r['ci'][0]:.3f}-{r['ci'][1]:.3f})"  # noqa: E731
        print(
            f"| {seed} | {planted_recall:.3f} / {cell(rec)} | "
            f"{planted_precision:.3f} / {cell(prec)} | "
            f"{planted_agree:.3f} / {pair['class_agreement']:.3f} | {cell(pair['kappa'])} | "
            f"{s['agreement']['n_images_disagreeing']} of {s['agreement']['n_images_shared']} |"
        )


if __name__ == "__main__":
    main()
