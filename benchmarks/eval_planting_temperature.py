"""Which planted label errors look like CIFAR-10N's real ones, at the bottom of the ranking
where a noise count is read? A measurement for issue 29 item 1 (nothing in curator uses it).

Usage (after the runs benchmarks/eval_label_evidence.py names, which keep the probabilities):
  .venv/bin/python benchmarks/eval_planting_temperature.py /tmp/le/cnn /tmp/le/cnn_clean \\
      [--boost 3.0]

For each kept audits folder (images labelled with ``--given``; ``--boost`` adds the last
folder's probabilities sharpened toward the true class) it prints the mixture-proportion ratio
F_all(t) / F_planted(t) at planted quantiles 0.02 / 0.05 / 0.1 / 0.25 (self_confidence scores):
for the real errors as the planted set (the oracle: near the true noise rate where the bottom of
the ranking is pure errors), for labels planted in proportion to p^tau on every image (tau = 1
is curator's planting; weights computed exactly, not sampled), and for the annotators' own
disagreements (checks/label_evidence.vote_disagreements, CIFAR-10N's three labels as votes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from curator.checks.label_evidence import vote_disagreements

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.eval_planting import arguments, boosted, load

QUANTILES = (0.02, 0.05, 0.1, 0.25)
TAUS = (1.0, 0.5, 0.0)
VOTES = ("random_label1", "random_label2", "random_label3")


def ratios(scores: np.ndarray, planted: np.ndarray, weights: np.ndarray | None = None) -> str:
    """F_all(t) / q at t = the planted scores' weighted q-quantile, for each q."""
    weights = np.ones_like(planted) if weights is None else weights
    order = np.argsort(planted)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    cells = []
    for q in QUANTILES:
        t = planted[order][min(np.searchsorted(cumulative, q), len(order) - 1)]
        cells.append(f"{np.mean(scores <= t) / q:.3f}")
    return " / ".join(cells)


def row(name: str, p: np.ndarray, y: np.ndarray, true: np.ndarray, votes: list) -> str:
    n = len(p)
    scores = p[np.arange(n), y]
    cells = [ratios(scores, scores[y != true])]
    for tau in TAUS:
        q = np.maximum(p, 1e-300) ** tau
        q[np.arange(n), y] = 0.0
        q /= q.sum(axis=1, keepdims=True)
        cells.append(ratios(scores, p.ravel(), q.ravel()))
    images, other = vote_disagreements(y, votes)
    cells.append(ratios(scores, p[images, other]))
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    args = arguments(__doc__)
    labels = pd.read_csv(args.labels).set_index("path")
    print(
        "| probabilities | oracle | "
        + " | ".join(f"tau {t:g}" for t in TAUS)
        + " | annotators' disagreements |"
    )
    print("| --- |" + " --- |" * (len(TAUS) + 2))
    for folder in args.folders:
        p, y, true = load(folder, labels, args.given)
        paths = pd.read_parquet(folder / "audits" / "pred_probs.parquet")["path"]
        classes = sorted(labels["clean_label"].unique())
        index = {c: k for k, c in enumerate(classes)}
        table = labels.loc[paths]  # the order load() reads the probabilities in
        votes = list(np.stack([table[c].map(index).to_numpy() for c in VOTES], axis=1))
        print(row(str(folder), p / p.sum(axis=1, keepdims=True), y, true, votes), flush=True)
    if args.boost is not None:
        print(
            row(
                f"{args.folders[-1]} boosted by {args.boost}",
                boosted(p, true, args.boost),
                y,
                true,
                votes,
            )
        )


if __name__ == "__main__":
    main()
