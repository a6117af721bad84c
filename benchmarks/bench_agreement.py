"""Agreement check at size: 50,000 images x 10 classes, 3 of 5 annotators per image.

Usage: .venv/bin/python benchmarks/bench_agreement.py [--n 50000] [--bootstrap 500,100]
Prints the wall time of the whole check (every statistic with its bootstrap interval,
Dawid-Skene, consensus, flags) per bootstrap setting, and how well Dawid-Skene recovered the
simulated accuracies.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from curator.checks import CheckInputs, agreement
from curator.params import AgreementParams

ACCURACIES = (0.95, 0.9, 0.8, 0.7, 0.2)


def simulate(n: int, k: int = 10, per_item: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    item = np.repeat(np.arange(n), per_item)
    annotator = np.concatenate(
        [rng.choice(len(ACCURACIES), per_item, replace=False) for _ in range(n)]
    )
    right = rng.random(len(item)) < np.array(ACCURACIES)[annotator]
    wrong = (truth[item] + rng.integers(1, k, len(item))) % k
    label = np.where(right, truth[item], wrong)
    ids = np.array([f"{i:064x}" for i in range(n)])
    paths = np.array([f"img{i}.png" for i in range(n)])
    votes = pd.DataFrame(
        {
            "sample_id": ids[item],
            "path": paths[item],
            "annotator": [f"ann{a}" for a in annotator],
            "label": label.astype(str),
        }
    )
    manifest = pd.DataFrame(
        {
            "sample_id": ids,
            "path": paths,
            "label": truth.astype(str),
            "split": "train",
            "readable": True,
            "site": np.where(np.arange(n) % 10, "A", "B"),
        }
    )
    return manifest, votes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--bootstrap", default="500,100")
    args = parser.parse_args()
    manifest, votes = simulate(args.n)
    print(f"{args.n:,} images, {len(votes):,} votes, 10 classes, 5 annotators (3 per image)")
    print("| bootstrap resamples | wall s | max abs error of estimated accuracy |")
    print("| ---: | ---: | ---: |")
    for reps in map(int, args.bootstrap.split(",")):
        start = time.perf_counter()
        result = agreement.run(
            CheckInputs(manifest=manifest, annotations=votes),
            AgreementParams(subgroups=("site",), n_bootstrap=reps),
        )
        wall = time.perf_counter() - start
        est = result.tables["annotators"].set_index("annotator")["estimated_accuracy"]
        error = max(abs(est[f"ann{a}"] - acc) for a, acc in enumerate(ACCURACIES))
        print(f"| {reps} | {wall:.1f} | {error:.3f} |", flush=True)


if __name__ == "__main__":
    main()
