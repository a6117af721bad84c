"""Agreement on boxes: three annotators' COCO files the test writes, one faithful, one who
misses boxes and swaps a class, one who adds a box; the matching, the rates, kappa and alpha
checked against their definitions and reference implementations."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest

from curator import artifacts
from curator.checks.box_agreement import match_boxes
from curator.checks.boxes import pairwise_iou
from curator.params import DetectionParams, Params
from curator.stages import boxes as stage
from tests.conftest import write_image
from tests.detection import write_coco

CLASSES = ("car", "person", "sign")
N = 30


def _truth(seed: int) -> list[list]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N):
        boxes = []
        for slot in rng.choice(8, 4, replace=False):
            r, c = divmod(int(slot), 4)
            x0, y0 = 6 + 48 * c, 10 + 70 * r
            boxes.append([str(rng.choice(CLASSES)), x0, y0, x0 + 36, y0 + 50])
        out.append(boxes)
    return out


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    root = tmp_path_factory.mktemp("agree") / "data"
    truth = _truth(0)
    alice = truth
    bob = [[[c, x0 + 1, y0 - 1, x1 + 1, y1] for c, x0, y0, x1, y1 in boxes] for boxes in truth]
    for k in range(0, N, 5):  # bob misses a box in every fifth image
        bob[k] = bob[k][1:]
    for k in range(2, N, 7):  # and gives another class in every seventh from the third
        c = bob[k][0][0]
        bob[k][0][0] = CLASSES[(CLASSES.index(c) + 1) % 3]
    carol = [[list(b) for b in boxes] for boxes in truth]
    carol[3].append(["sign", 150, 150, 180, 170])  # a box no one else drew
    files = {}
    for name, boxes in (("alice", alice), ("bob", bob), ("carol", carol)):
        images = [("train", f"{k:03d}.png", (200, 160), b) for k, b in enumerate(boxes)]
        folder = root / name
        folder.mkdir(parents=True)
        annotations = write_coco(folder, images, classes=CLASSES)
        files[name] = {"train": f"{name}/{annotations['train']}"}
    for k in range(N):
        write_image(root / "images" / "train" / f"{k:03d}.png", seed=k, size=(200, 160))
    images = [("train", f"{k:03d}.png", (200, 160), b) for k, b in enumerate(alice)]
    main = write_coco(root, images, classes=CLASSES)
    detection = DetectionParams(format="coco", annotations=main, annotators=files, n_bootstrap=200)
    summary = stage.run(Params(detection=detection), root, root.parent / "audits")
    return root.parent / "audits", summary, (alice, bob, carol)


def test_rates_per_pair_and_annotator(audited) -> None:
    _, summary, (alice, bob, _carol) = audited
    agreement = summary["agreement"]
    assert agreement["annotators"] == ["alice", "bob", "carol"]
    pair = {(p["a"], p["b"]): p for p in agreement["pairs"]}
    ab = pair[("alice", "bob")]
    n_alice, n_bob = sum(map(len, alice)), sum(map(len, bob))
    assert (ab["boxes_a"], ab["boxes_b"], ab["matched"]) == (n_alice, n_bob, n_bob)
    assert ab["precision_a"]["value"] == pytest.approx(n_bob / n_alice)  # alice drew 6 more
    assert ab["recall_a"]["value"] == 1.0
    lo, hi = ab["precision_a"]["ci"]
    assert lo <= ab["precision_a"]["value"] <= hi < 1.0
    # a one-pixel shift of a 36 x 50 box
    iou = pairwise_iou(np.array([[6.0, 10, 42, 60]]), np.array([[7.0, 9, 43, 60]]))[0, 0]
    assert ab["iou"]["value"] == pytest.approx(iou)
    ac = pair[("alice", "carol")]
    assert ac["precision_a"]["value"] == 1.0
    assert ac["recall_a"]["value"] == pytest.approx(n_alice / (n_alice + 1))
    assert ac["kappa"]["value"] == 1.0


def test_kappa_equals_sklearn_on_the_matched_boxes(audited) -> None:
    from sklearn.metrics import cohen_kappa_score

    _, summary, (alice, bob, _) = audited
    a_labels, b_labels = [], []
    for boxes_a, boxes_b in zip(alice, bob, strict=True):
        a = np.array([b[1:] for b in boxes_a], float)
        b = np.array([x[1:] for x in boxes_b], float)
        for i, j, _ in match_boxes(a, b, 0.5):
            a_labels.append(boxes_a[i][0])
            b_labels.append(boxes_b[j][0])
    ab = next(p for p in summary["agreement"]["pairs"] if (p["a"], p["b"]) == ("alice", "bob"))
    assert ab["kappa"]["value"] == pytest.approx(cohen_kappa_score(a_labels, b_labels))
    assert ab["kappa"]["value"] < 1.0


def test_alpha_equals_the_krippendorff_package(audited) -> None:
    import krippendorff

    _audits, summary, (alice, bob, carol) = audited
    # objects: alice's boxes (each matched by the others when drawn), plus carol's extra box
    units = []
    for k in range(N):
        for i, box in enumerate(alice[k]):
            row = [CLASSES.index(box[0])]
            b = np.array([x[1:] for x in bob[k]], float)
            hit = [j for a, j, _ in match_boxes(np.array([box[1:]], float), b, 0.5) if a == 0]
            row.append(CLASSES.index(bob[k][hit[0]][0]) if hit else np.nan)
            row.append(CLASSES.index(carol[k][i][0]))
            units.append(row)
    expected = krippendorff.alpha(np.array(units, float).T, level_of_measurement="nominal")
    assert summary["agreement"]["alpha"]["value"] == pytest.approx(expected)


def test_disagreeing_images_are_findings_and_consensus_is_the_mean(audited) -> None:
    audits, _summary, (alice, _bob, _) = audited
    flags = pd.read_parquet(audits / artifacts.findings("box_agreement"))
    expected = {k for k in range(N) if k % 5 == 0 or (k - 2) % 7 == 0 or k == 3}
    assert set(flags.path) == {f"images/train/{k:03d}.png" for k in expected}
    assert (flags.issue == "box_disagreement").all()
    consensus = pd.read_parquet(audits / artifacts.BOX_CONSENSUS)
    first = consensus[consensus.path == "images/train/001.png"].sort_values(["x0", "y0"])
    c, x0, y0, x1, y1 = sorted(alice[1], key=lambda b: (b[1], b[2]))[0]
    assert tuple(first.iloc[0][["x0", "y0", "x1", "y1"]]) == pytest.approx(
        (x0 + 1 / 3, y0 - 1 / 3, x1 + 1 / 3, y1), abs=1e-3
    )
    assert first.iloc[0]["label"] == c
    # carol's extra box, drawn by one of three, is no consensus box
    assert len(consensus[consensus.path == "images/train/003.png"]) == len(alice[3])


@pytest.mark.parametrize("seed", range(5))
def test_hungarian_matching_maximises_the_summed_iou(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 60, (5, 2))
    a = np.c_[xy, xy + rng.uniform(10, 30, (5, 2))]
    b = a[rng.permutation(5)] + rng.normal(0, 4, (5, 4))
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)
    iou = pairwise_iou(a, b)
    best = max(sum(iou[i, p[i]] for i in range(5)) for p in permutations(range(5)))
    found = match_boxes(a, b, 0.0)
    assert sum(v for _, _, v in found) == pytest.approx(best)
    assert all(v >= 0.5 for _, _, v in match_boxes(a, b, 0.5))
