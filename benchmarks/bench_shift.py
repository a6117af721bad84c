"""Time of the shift stage's domain classifier at scale, and what a small shift reads as.

Usage: .venv/bin/python benchmarks/bench_shift.py

Random normal embeddings for 50,000 train and 10,000 held-out images; 1,000 of the held-out
ones moved by one standard deviation along 4 of the dimensions (a small sub-population shift),
or none moved (the null). Prints a table: dimension, shifted or not, wall time, AUC, the AUC
random relabellings reach (95th percentile) and the permutation p-value.
"""

from __future__ import annotations

import time

import numpy as np

from curator.evaluation.shift import domain_classifier
from curator.params import ShiftParams


def main() -> None:
    rng = np.random.default_rng(0)
    print("| dim | planted | wall s | AUC | random splits reach (95%) | p-value | shifted |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for dim in (256, 512, 1024):
        for planted in (False, True):
            train = rng.normal(size=(50_000, dim)).astype(np.float32)
            held = rng.normal(size=(10_000, dim)).astype(np.float32)
            if planted:
                held[:1000, :4] += 1.0
            start = time.perf_counter()
            _, s = domain_classifier(train, held, ShiftParams())
            wall = time.perf_counter() - start
            what = "1,000 of 10,000 moved" if planted else "none"
            print(
                f"| {dim} | {what} | {wall:.1f} | {s['auc']:.3f} | {s['null_auc_95']:.3f} | "
                f"{s['p_value']:.3g} | {s['shifted']} |"
            )


if __name__ == "__main__":
    main()
