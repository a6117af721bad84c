"""Two models scored on the same images: paired differences with bootstrap intervals, and
McNemar's exact test for accuracy.

Comparing two audits' accuracies as two independent numbers throws away that both models saw
the same images: most images are right (or wrong) for both, and only the ones where the models
disagree carry information about the change. Resampling images once and scoring both models on
each resample keeps that pairing, so the interval of the change is far narrower than the two
accuracies' intervals suggest (and honest, which subtracting two intervals is not). McNemar's
exact test is the classical paired test of accuracy (Dietterich 1998: the test to use when
each model is trained once); the bootstrap gives the interval, and the same resamples give the
paired change of every group's metric, the worst group's and the calibration error's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from curator.evaluation.metrics import Scored, group_sums, metrics_from_sums

COMPARED = ("accuracy", "balanced_accuracy", "macro_f1", "ece")


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, float | int]:
    """McNemar's exact test: of the images exactly one model gets right, is the split 50/50?
    ``only_a``: right for A only; ``only_b``: right for B only; two-sided binomial p."""
    from scipy.stats import binomtest

    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    n = only_a + only_b
    p = 1.0 if n == 0 else float(binomtest(only_b, n, 0.5).pvalue)
    return {"only_a": only_a, "only_b": only_b, "p_value": p}


@dataclass(frozen=True)
class PairedMetrics:
    """Each metric per group for A and B, as is (G,) and in every resample (R, G); the same
    resamples of images for both, so ``b - a`` per resample is the paired change."""

    a: dict[str, np.ndarray]
    b: dict[str, np.ndarray]
    boot_a: dict[str, np.ndarray]
    boot_b: dict[str, np.ndarray]

    def change(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(point change B - A per group, resampled changes (R, G))."""
        return self.b[metric] - self.a[metric], self.boot_b[metric] - self.boot_a[metric]


def paired_metrics(
    a: Scored, b: Scored, codes: np.ndarray, n_groups: int, n_boot: int, seed: int
) -> PairedMetrics:
    """Metrics of two scorings of the same images (same true labels ``a.y == b.y``) per group
    (``codes``: each image's group, -1 for none), on shared bootstrap resamples."""
    if not np.array_equal(a.y, b.y):
        raise ValueError("paired metrics need both models scored against the same labels")
    keep = codes >= 0
    a, b = (Scored(s.y[keep], s.probs[keep], s.top_k, s.bins) for s in (a, b))
    sides = []
    for s in (a, b):  # the same seed: group_sums draws the same resamples for both
        point, boots = group_sums(s, codes[keep], n_groups, n_boot, seed)
        sides.append(
            tuple(
                {
                    m: v
                    for m, v in metrics_from_sums(x, s.n_classes, s.bins).items()
                    if m in COMPARED
                }
                for x in (point, boots)
            )
        )
    (pa, ba), (pb, bb) = sides
    return PairedMetrics(pa, pb, ba, bb)


def worst_group_change(
    paired: PairedMetrics, eligible: np.ndarray
) -> dict[str, np.ndarray | float | int]:
    """The worst eligible group's accuracy and the gap (best minus worst) for A and B, with
    their resampled values; the worst group may differ between A and B, and between
    resamples (the statistic is the worst accuracy, whichever group has it)."""
    out: dict[str, np.ndarray | float | int] = {}
    for side, point, boot in (("a", paired.a, paired.boot_a), ("b", paired.b, paired.boot_b)):
        acc, acc_boot = point["accuracy"][eligible], boot["accuracy"][:, eligible]
        out[f"worst_{side}"] = float(np.nanmin(acc))
        out[f"worst_group_{side}"] = int(np.flatnonzero(eligible)[np.nanargmin(acc)])
        out[f"gap_{side}"] = float(np.nanmax(acc) - np.nanmin(acc))
        with warnings.catch_warnings():  # a resample where every group is empty: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out[f"worst_boot_{side}"] = np.nanmin(acc_boot, axis=1)
            out[f"gap_boot_{side}"] = np.nanmax(acc_boot, axis=1) - np.nanmin(acc_boot, axis=1)
    return out
