"""Group-fairness metrics by their fairlearn names, each between-group difference with an interval.

Per class c, one-vs-rest (a 2-class task reports only its positive class: the other class's
numbers are the same differences mirrored): selection rate P(pred=c | group), true-positive rate
P(pred=c | y=c, group), false-positive rate P(pred=c | y!=c, group); between groups the
demographic-parity difference (largest minus smallest selection rate) and ratio (smallest over
largest), the equalized-odds difference (the larger of the TPR and FPR differences) and ratio
(the smaller of the TPR and FPR ratios). These are fairlearn.metrics' definitions; a test checks
every number against fairlearn's functions on the same predictions. They are computed here from
the per-group sums every other metric uses (evaluation/metrics.py), so each comes with a bootstrap
interval on the same paired resamples at the cost of a few array operations, where fairlearn
would recompute per resample.

Which groups count: demographic parity compares the groups large enough to report
(``min_group_size``); the rates conditioned on the true class need ``min_class_support`` images
with and without class c in a group, or one lucky image would decide the difference.
A difference is max - min over groups, so it is never below zero and is biased upwards in small
groups: read its interval, whose lower end says how large a gap the data supports. A ratio
whose whole interval lies below ``fairness_ratio_floor`` (0.8, the "four-fifths rule" of US
employment law that fairness reviews borrow) is listed in ``below_ratio_floor``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from curator.errors import ConfigError
from curator.evaluation.intervals import percentile_interval
from curator.evaluation.metrics import class_sums, rounded
from curator.params import EvaluateParams

FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)
RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")


def positive_classes(classes: list[str], p: EvaluateParams) -> list[int]:
    """Indices of the classes scored one-vs-rest: every class, or for two classes the positive
    one (``evaluate.positive_class``, default the second in sorted order)."""
    if len(classes) != 2:
        return list(range(len(classes)))
    positive = p.positive_class if p.positive_class is not None else classes[1]
    if positive not in classes:
        raise ConfigError(
            f"evaluate.positive_class: {positive!r} is not a class of this task "
            f"({', '.join(classes)}); name one of them, or null for {classes[1]!r}."
        )
    return [classes.index(positive)]


RATE_GROUPS = {  # each rate and the groups it is compared over (eligible_groups)
    "selection_rate": "demographic_parity",
    "true_positive_rate": "equalized_odds",
    "false_positive_rate": "equalized_odds",
}


def rate_counts(sums: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Per rate, (..., classes, 2) from group sums (..., width): its numerator and the rest of
    its denominator (selected / not selected among the images the rate is over)."""
    true, pred, tp = class_sums(sums, n_classes)
    n = true.sum(axis=-1, keepdims=True)
    fp = pred - tp
    return {
        "selection_rate": np.stack([pred, n - pred], axis=-1),
        "true_positive_rate": np.stack([tp, true - tp], axis=-1),
        "false_positive_rate": np.stack([fp, n - true - fp], axis=-1),
    }


def rates(sums: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Selection rate, TPR and FPR per class from group sums (..., width): arrays (..., classes)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return {r: c[..., 0] / c.sum(axis=-1) for r, c in rate_counts(sums, n_classes).items()}


def eligible_groups(point: np.ndarray, n_classes: int, p: EvaluateParams) -> dict[str, np.ndarray]:
    """(groups, classes) masks: which groups each metric compares for each class."""
    true, _, _ = class_sums(point, n_classes)
    n = true.sum(axis=1, keepdims=True)
    big = np.broadcast_to(n >= p.min_group_size, true.shape)
    conditioned = big & (true >= p.min_class_support) & (n - true >= p.min_class_support)
    return {"demographic_parity": big, "equalized_odds": conditioned}


def _spread(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max - min and min / max over the group axis (-2) among ``mask``ed groups; NaN when fewer
    than two groups qualify."""
    x = np.where(mask, values, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        hi, lo = np.nanmax(x, axis=-2), np.nanmin(x, axis=-2)
        enough = mask.sum(axis=-2) >= 2
        diff = np.where(enough, hi - lo, np.nan)
        ratio = np.where(enough, np.where(hi > 0, lo / hi, 1.0), np.nan)
    return diff, ratio


def between_groups(sums: np.ndarray, masks: dict[str, np.ndarray], n_classes: int) -> dict:
    """The named metrics per class from group sums (..., groups, width): (..., classes)."""
    r = rates(sums, n_classes)
    dp_diff, dp_ratio = _spread(r["selection_rate"], masks["demographic_parity"])
    tpr_diff, tpr_ratio = _spread(r["true_positive_rate"], masks["equalized_odds"])
    fpr_diff, fpr_ratio = _spread(r["false_positive_rate"], masks["equalized_odds"])
    true, _, _ = class_sums(sums, n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        base = true / true.sum(axis=-1, keepdims=True)
    base_diff, _ = _spread(base, masks["demographic_parity"])
    return {
        "demographic_parity_difference": dp_diff,
        "demographic_parity_ratio": dp_ratio,
        "equalized_odds_difference": np.fmax(tpr_diff, fpr_diff),
        "equalized_odds_ratio": np.fmin(tpr_ratio, fpr_ratio),
        "true_positive_rate_difference": tpr_diff,
        "false_positive_rate_difference": fpr_diff,
        "true_positive_rate_ratio": tpr_ratio,
        "false_positive_rate_ratio": fpr_ratio,
        # how much the class's true share differs among the same groups: demographic parity
        # asks for equal selection even where the data's base rates differ
        "base_rate_difference": base_diff,
    }


def summarize(
    point: np.ndarray,
    boots: np.ndarray | None,
    classes: list[str],
    names: list[str],
    p: EvaluateParams,
) -> dict[str, Any] | None:
    """The grouping's named fairness metrics with intervals, per scored class and the largest
    over classes (which class it is named); None when fewer than two groups qualify for any."""
    k = len(classes)
    masks = eligible_groups(point, k, p)
    with warnings.catch_warnings():  # all-NaN slices: a class no two groups qualify for
        warnings.simplefilter("ignore", RuntimeWarning)
        values = between_groups(point, masks, k)
        resampled = between_groups(boots, masks, k) if boots is not None else None
    per_class: dict[str, Any] = {}
    counts = rate_counts(point, k)
    scored = positive_classes(classes, p)
    alpha = 1 - p.ci_level
    for c in scored:
        if not np.isfinite(values["demographic_parity_difference"][c]):
            continue
        entry: dict[str, Any] = {
            "groups_compared": {
                kind: [names[g] for g in np.flatnonzero(mask[:, c])] for kind, mask in masks.items()
            }
        }
        for metric, v in values.items():
            entry[metric] = rounded(v[c])
            if resampled is not None and np.isfinite(v[c]):
                entry[f"{metric}_ci"] = [
                    rounded(x) for x in percentile_interval(resampled[metric][:, c], p.ci_level)
                ]
        entry["p_values"] = {
            rate: _homogeneity(counts[rate][:, c], masks[kind][:, c])
            for rate, kind in RATE_GROUPS.items()
        }
        entry["below_ratio_floor"] = _below_floor(entry, alpha / len(scored), p)
        per_class[classes[c]] = entry
    if not per_class:
        return None
    largest = {}
    for metric in ("demographic_parity_difference", "equalized_odds_difference"):
        by_class = {c: e[metric] for c, e in per_class.items() if e[metric] is not None}
        if by_class:
            cls = max(by_class, key=lambda c: by_class[c])
            largest[metric] = {"class": cls, "value": by_class[cls]} | (
                {"ci": per_class[cls][f"{metric}_ci"]} if f"{metric}_ci" in per_class[cls] else {}
            )
    focus = largest.get("equalized_odds_difference", largest["demographic_parity_difference"])
    return {"per_class": per_class, "largest": largest, "focus_class": focus["class"]}


def _homogeneity(table: np.ndarray, mask: np.ndarray) -> float | None:
    """Chi-square test that a rate is the same in every compared group (groups x 2 counts).
    A ratio of two tiny rates (0 of 300 against 3 of 300) can be 0 with a bootstrap interval
    of [0, 0]; this test says whether the groups differ at all."""
    from scipy.stats import chi2_contingency

    table = table[mask]
    if len(table) < 2:
        return None
    if (table.sum(axis=0) == 0).any():
        return 1.0  # every group at rate 0 (or 1): no difference
    return rounded(chi2_contingency(table).pvalue)


def _below_floor(entry: dict[str, Any], alpha: float, p: EvaluateParams) -> list[str]:
    """The parity ratios surely below the floor: the interval's upper end under it, and the
    rate that sets the ratio different across groups at level ``alpha``."""
    driving = {
        "demographic_parity_ratio": "selection_rate",
        # the equalized-odds ratio is the smaller of the TPR and FPR ratios: test that one
        "equalized_odds_ratio": "true_positive_rate"
        if entry["equalized_odds_ratio"] == entry["true_positive_rate_ratio"]
        else "false_positive_rate",
    }
    out = []
    for metric, rate in driving.items():
        upper = (entry.get(f"{metric}_ci") or [None, entry[metric]])[1]
        p_value = entry["p_values"][rate]
        surely_below = upper is not None and upper < p.fairness_ratio_floor
        if surely_below and p_value is not None and p_value < alpha:
            out.append(metric)
    return out
