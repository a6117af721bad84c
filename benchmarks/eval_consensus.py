"""Consensus labels on real crowd votes: CIFAR-10N (50,000 photos x 3 human labels).

Usage:
  .venv/bin/python benchmarks/eval_consensus.py
      [--labels ../shared/devdata/cifar10n-train/labels.csv.gz]
      [--image-probs audits/pred_probs.parquet] [--crowdkit DIR]

Runs curator's agreement check (the code the stage runs) on the three ``random_label*`` votes of
every image and scores its consensus against ``clean_label``: accuracy (overall, on 2-1 splits,
on three-way ties), calibration of ``consensus_confidence`` (expected calibration error, 15
equal-width bins, and the reliability table), the aggregation chosen on held-out votes, and
plain majority vote with random tie-breaks (five seeds) for comparison. ``--image-probs`` adds
out-of-fold image probabilities (a label_quality ``pred_probs.parquet`` whose paths are the
devdata's ``train/<class>/<index>.jpg``). ``--crowdkit DIR`` also scores crowd-kit's aggregators
(installed there with ``pip install --no-deps --target DIR crowd-kit nltk``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from curator.checks import agreement
from curator.checks.base import CheckInputs
from curator.evaluation.metrics import Scored, calibration_table, expected_calibration_error
from curator.params import AgreementParams

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO.parent / "shared/devdata/cifar10n-train/labels.csv.gz"
VOTES = ("random_label1", "random_label2", "random_label3")


def crowdkit_scores(directory: str, votes: pd.DataFrame, truth: pd.Series) -> list[tuple]:
    sys.path.insert(0, directory)
    from crowdkit.aggregation import GLAD, MACE, DawidSkene, MajorityVote, OneCoinDawidSkene

    frame = votes.rename(columns={"path": "task", "annotator": "worker"})
    out = []
    for name, method in (
        ("MajorityVote", MajorityVote()),
        ("DawidSkene", DawidSkene(n_iter=100)),
        ("OneCoinDawidSkene", OneCoinDawidSkene(n_iter=100)),
        ("GLAD", GLAD(n_iter=100)),
        ("MACE", MACE(n_iter=100, random_state=0)),
    ):
        start = time.perf_counter()
        probs = method.fit_predict_proba(frame).reindex(truth.index).fillna(0.0)
        classes = list(probs.columns)
        y = truth.map({c: k for k, c in enumerate(classes)}).to_numpy()
        table = calibration_table(Scored(y, probs.to_numpy(), 1, 15))
        accuracy = (probs.to_numpy().argmax(axis=1) == y).mean()
        out.append(
            (
                f"crowd-kit {name}",
                accuracy,
                expected_calibration_error(table),
                time.perf_counter() - start,
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--image-probs", default=None)
    ap.add_argument("--crowdkit", default=None)
    args = ap.parse_args()

    labels = pd.read_csv(args.labels)
    votes = pd.concat(
        [labels[["path", c]].rename(columns={c: "label"}).assign(annotator=c) for c in VOTES],
        ignore_index=True,
    )
    manifest = labels.assign(
        sample_id=labels["path"], label=labels["random_label1"], split="train", readable=True
    )[["sample_id", "path", "label", "split", "readable"]]
    probs = pd.read_parquet(args.image_probs) if args.image_probs else None
    start = time.perf_counter()
    result = agreement.run(
        CheckInputs(
            manifest=manifest, annotations=votes.assign(sample_id=votes["path"]), pred_probs=probs
        ),
        AgreementParams(n_bootstrap=0),
    )
    seconds = time.perf_counter() - start
    table = result.tables["consensus"].set_index("path")
    truth = labels.set_index("path")["clean_label"].reindex(table.index)
    classes = sorted(truth.unique())
    y = truth.map({c: k for k, c in enumerate(classes)}).to_numpy()
    # the consensus confidence as a probability of the consensus label (the rest spread evenly)
    conf = table["consensus_confidence"].to_numpy()
    pick = table["consensus_label"].map({c: k for k, c in enumerate(classes)}).to_numpy()
    probs_matrix = np.repeat(((1 - conf) / (len(classes) - 1))[:, None], len(classes), axis=1)
    probs_matrix[np.arange(len(y)), pick] = conf
    rows = calibration_table(Scored(y, probs_matrix, 1, 15))
    correct = pick == y

    counts = pd.crosstab(votes["path"], votes["label"]).reindex(table.index)
    top = counts.max(axis=1)
    tie3 = ((counts == top.to_numpy()[:, None]).sum(axis=1) == 3).to_numpy()
    split21 = (top == 2).to_numpy()
    mv = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        winners = [rng.choice(np.flatnonzero(c == c.max())) for c in counts.to_numpy()]
        mv.append((np.array(counts.columns)[winners] == truth.to_numpy()).mean())

    g = result.summary["aggregation"]
    print(
        f"{len(table)} images, {len(votes)} votes; agreement check {seconds:.1f} s; chosen on "
        f"held-out votes: {g['chosen']}, temperature {g['temperature']}, image weight "
        f"{g['image_weight']}" + (f" ({args.image_probs})" if args.image_probs else "")
    )
    print("\n| labels | accuracy | on 2-1 splits | on three-way ties | ECE |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| curator consensus | {correct.mean():.4f} | {correct[split21].mean():.4f} | "
        f"{correct[tie3].mean():.4f} | {expected_calibration_error(rows):.4f} |"
    )
    print(f"| majority vote, ties at random (5 seeds) | {min(mv):.4f}-{max(mv):.4f} | | | |")
    if args.crowdkit:
        for name, accuracy, err, secs in crowdkit_scores(args.crowdkit, votes, truth):
            print(f"| {name} ({secs:.0f} s) | {accuracy:.4f} | | | {err:.4f} |")
    print(f"\n{tie3.sum()} three-way ties ({table['vote_tied'].sum()} items with tied votes)")
    print("\nReliability of consensus_confidence (15 bins):\n")
    print("| confidence bin | images | mean confidence | accuracy |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['bin_low']:.2f}-{r['bin_high']:.2f} | {r['count']} | "
            f"{r['mean_confidence']:.3f} | {r['accuracy']:.3f} |"
        )
    best = pd.DataFrame(g["candidates"]).groupby("aggregation")["heldout_loglik"].max()
    print("\nBest held-out log-likelihood per aggregation:\n")
    print("| aggregation | held-out log-likelihood per vote |")
    print("| --- | ---: |")
    for name, value in best.sort_values(ascending=False).items():
        print(f"| {name} | {value:.4f} |")
    ann = result.tables["annotators"]
    print("\n| vote column | votes | estimated accuracy (95% CI) | real accuracy |")
    print("| --- | ---: | --- | ---: |")
    for r in ann.itertuples():
        real = (labels[r.annotator] == labels["clean_label"]).mean()
        print(
            f"| {r.annotator} | {r.n_votes} | {r.estimated_accuracy:.3f} "
            f"({r.accuracy_ci_low:.3f}-{r.accuracy_ci_high:.3f}) | {real:.3f} |"
        )


if __name__ == "__main__":
    main()
