"""The wrong labels left after review rounds: worked by hand on one round, and checked for
coverage in a seeded simulation where the truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curator.review import corrections, errors_left


def round_answers(name, paths, labels, truth, drawn, evidence, at):
    """A reviewer who answers with the true label."""
    return [
        {
            "path": p,
            "sample_id": f"{int(p[3:8]):064x}",  # img00042.png's bytes are image 42's
            "old_label": labels[p],
            "verdict": "relabel" if truth[p] != labels[p] else "confirmed",
            "new_label": truth[p] if truth[p] != labels[p] else "",
            "reviewer": "ann",
            "reviewed_at": at,
            "task": f"{name}#{k + 1}",
            "drawn": drawn,
            "evidence": evidence,
            "reasons": "",
        }
        for k, p in enumerate(paths)
    ]


def world(n: int, wrong: np.ndarray):
    paths = [f"img{k:05d}.png" for k in range(n)]
    truth = {p: "cat" for p in paths}
    labels = {p: "dog" if w else "cat" for p, w in zip(paths, wrong, strict=True)}
    manifest = pd.DataFrame(
        {
            "path": paths,
            "sample_id": [f"{k:064x}" for k in range(n)],
            "label": [labels[p] for p in paths],
            "readable": True,
        }
    )
    return paths, truth, labels, manifest


def apply(manifest, rows):
    table = corrections.validate(pd.DataFrame(rows), {"cat", "dog"}, "corrections.csv")
    votes = pd.DataFrame(columns=["sample_id", "path", "annotator", "label"], dtype="string")
    return corrections.apply(manifest, votes, table).facts


def test_one_round_worked_by_hand():
    """1,000 images, 150 wrong. The queue's 100 hold 60 wrong (its last 100 = all of them);
    then 50 drawn at random from the other 900 hold 5 wrong: 10% (Jeffreys 95%: 3.9% to
    20.6%) of 900 = 90 at the draw; 5 of them fixed by the sample itself: 85 left (truth: 150 -
    60 - 5 = 85)."""
    wrong = np.zeros(1000, bool)
    wrong[:60] = True  # the queue's top 100 (images 0-99) holds 60 wrong
    wrong[100:105] = True  # the sample's five
    wrong[200:280] = True  # 80 more no one sees
    paths, truth, labels, manifest = world(1000, wrong)
    rows = []
    for k, p in enumerate(paths[:100]):
        rows += round_answers(
            "round-1.csv", [p], labels, truth, "queue", "votes", "2026-12-07T10:00:00Z"
        )
        rows[-1]["task"] = f"round-1.csv#{k + 1}"
    sample = paths[100:150]
    for k, p in enumerate(sample):
        rows += round_answers(
            "round-1.csv", [p], labels, truth, "random", "random:900", "2026-12-07T10:00:00Z"
        )
        rows[-1]["task"] = f"round-1.csv#{101 + k}"
    facts = apply(manifest, rows)
    left = facts["errors_left"]
    assert (left["pool"], left["n_sample"], left["wrong_in_sample"]) == (900, 50, 5)
    assert left["share_wrong"] == pytest.approx(0.1)
    assert left["share_wrong_ci"] == pytest.approx([0.0393, 0.2058], abs=1e-3)
    assert left["left"] == pytest.approx(85.0)
    assert left["left_ci"] == pytest.approx([900 * 0.0393 - 5, 900 * 0.2058 - 5], abs=1.0)
    band = facts["next_queue_band"]
    assert (band["n"], band["wrong"], band["would_fix"]) == (100, 60, pytest.approx(60.0))
    assert band["per_band"] == [[60, 100]]


def test_without_a_random_sample_nothing_is_estimated():
    wrong = np.zeros(300, bool)
    wrong[:10] = True
    paths, truth, labels, manifest = world(300, wrong)
    rows = round_answers(
        "r1.csv", paths[:20], labels, truth, "queue", "votes", "2026-12-07T10:00:00Z"
    )
    left = apply(manifest, rows)["errors_left"]
    assert left["measured"] is False and "--random 100" in left["why"]


def test_the_interval_covers_the_truth_in_a_seeded_simulation():
    """Two rounds on 3,000 images with 12% wrong, a queue that finds errors at 60% then 30%,
    a random sample of 100 in round 1: the 95% interval on the errors left after round 2
    covers the true count in at least 88 of 100 seeded worlds (at a true 95%, fewer happens
    about once in 700 draws of 100)."""
    covered = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        wrong = rng.random(3000) < 0.12
        paths, truth, labels, manifest = world(3000, wrong)
        order = np.argsort(-(wrong * rng.random(3000) * 1.5 + rng.random(3000)))  # a noisy ranker
        top1, rest = order[:300], order[300:]
        pool = np.sort(rest)
        sample = rng.choice(pool, 100, replace=False)
        remaining = np.setdiff1d(pool, sample)
        top2 = remaining[
            np.argsort(
                -(wrong[remaining] * rng.random(len(remaining)) + rng.random(len(remaining)))
            )
        ][:300]
        rows = round_answers(
            "r1.csv", [paths[i] for i in top1], labels, truth, "queue", "q", "2026-12-07T10:00:00Z"
        )
        rows += round_answers(
            "r1r.csv",
            [paths[i] for i in sample],
            labels,
            truth,
            "random",
            f"random:{len(pool)}",
            "2026-12-07T10:00:01Z",
        )
        rows += round_answers(
            "r2.csv", [paths[i] for i in top2], labels, truth, "queue", "q", "2026-12-08T10:00:00Z"
        )
        left = apply(manifest, rows)["errors_left"]
        reviewed = set(top1) | set(sample) | set(top2)
        true_left = int(sum(wrong[i] for i in range(3000) if i not in reviewed))
        covered += left["left_ci"][0] <= true_left <= left["left_ci"][1]
    assert covered >= 88, covered
    assert errors_left.BAND == 100
