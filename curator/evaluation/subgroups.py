"""Stratified evaluation: every metric per group, with bootstrap intervals and honest gaps.

A grouping is a sensitive feature, an intersection of features, or the k-means slices of the
embedding space. Per group we report the metrics with percentile intervals, or "too few samples"
below ``min_group_size``. fairlearn's MetricFrame gives the per-group headline metrics and the
between-group difference and ratio over the groups large enough to report. Two things MetricFrame
cannot say are added: whether the worst group is worse than the rest (its ``difference_ci`` is an
interval of |max - min|, which never straddles zero, so it cannot show that a gap is real; we
bootstrap the signed gap of the worst group against everyone else, at a Bonferroni-adjusted level
because the worst group was picked after looking), and per-class recall gaps. The named
fairness metrics (selection rate, TPR, FPR per group; demographic parity and equalized odds
between groups) come from curator/evaluation/fairness.py on the same sums and resamples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from itertools import combinations, pairwise
from typing import Any

import numpy as np
import pandas as pd

from curator.evaluation import fairness
from curator.evaluation.intervals import percentile_interval
from curator.evaluation.metrics import (
    HEADLINE,
    Scored,
    group_sums,
    metrics_from_sums,
    rounded,
)
from curator.io.sources import known_values
from curator.params import EvaluateParams

SLICE_GROUPING = "slice"  # the grouping of k-means slices of the embedding space

GROUP_METRICS = (*HEADLINE, "top_k_accuracy", "ece")


def reported_metrics(s: Scored) -> tuple[str, ...]:
    """GROUP_METRICS, with top-k accuracy only where it can miss: k below the number of
    classes (top-2 accuracy of a 2-class task is 1 whatever the model)."""
    return tuple(m for m in GROUP_METRICS if m != "top_k_accuracy" or s.top_k < s.n_classes)


@dataclass(frozen=True)
class Grouping:
    """A name ("site", "site x device", "slice") and each evaluated sample's group in it.
    ``recorded``: groups of people or sources the metadata names, where parity is the question
    (fairness metrics); False for groups derived from the images (slices, property bins)."""

    name: str
    labels: pd.Series
    recorded: bool = True


def feature_groupings(frame: pd.DataFrame, features: tuple[str, ...], max_order: int) -> list:
    """One grouping per feature and per combination of up to ``max_order`` features; an image
    with an unknown value of one of them is in no group of the grouping (<NA>)."""
    out = []
    for order in range(1, min(max_order, len(features)) + 1):
        for combo in combinations(features, order):
            parts = [known_values(frame[c]) for c in combo]
            labels = parts[0].str.cat(parts[1:], sep=" | ") if order > 1 else parts[0]
            out.append(Grouping(" x ".join(combo), labels.reset_index(drop=True)))
    return out


# image property -> words for its lowest and highest values (features/properties.py)
CONDITION_WORDS = {
    "brightness": ("darkest", "brightest"),
    "contrast": ("flattest", "most contrasted"),
    "sharpness": ("blurriest", "sharpest"),
    "saturation": ("greyest", "most colourful"),
    "entropy": ("emptiest", "busiest"),
    "shorter_side": ("smallest", "largest"),  # pixels, from the manifest
    # not a pixel property: how unlike train the image looks to the shift stage's classifier
    "unlike_train": ("most train-like", "least train-like"),
}
CONDITION_PREFIX = "image "  # grouping names: "image brightness", ...


def condition_groupings(values: pd.DataFrame, reference: np.ndarray, bins: int) -> list:
    """One grouping per image property: the property's quantile bins among the ``reference``
    (evaluated) images, named in words, e.g. '01/10 darkest 10%: brightness < 0.21', so a failure on
    dark images shows up with no metadata naming it."""
    out = []
    for name, (low, high) in CONDITION_WORDS.items():
        if name not in values or values.loc[reference, name].isna().any():
            continue  # e.g. no shift scores: the evaluated split is train
        x = values[name].to_numpy(float)
        cuts = (
            np.quantile(x[reference], np.linspace(0, 1, bins + 1)[1:-1]) if reference.any() else []
        )
        edges = np.unique(cuts)
        which = np.searchsorted(edges, x, side="right")
        if len(np.unique(which[reference])) < 2:
            continue  # (nearly) one value for every image, e.g. saturation on greyscale: no bins
        share = np.bincount(which[reference], minlength=len(edges) + 1) / reference.sum()
        names = [f"{low} {share[0]:.0%}: {name} < {edges[0]:.3g}"]
        names += [f"{name} {a:.3g} to {b:.3g}" for a, b in pairwise(edges)]
        names += [f"{high} {share[-1]:.0%}: {name} >= {edges[-1]:.3g}"]
        width = len(str(len(names)))  # "01/10 darkest 10%: ...": groups sort low to high
        names = [f"{k:0{width}d}/{len(names)} {n}" for k, n in enumerate(names, 1)]
        labels = pd.Series(np.array(names)[which])
        out.append(Grouping(CONDITION_PREFIX + name, labels, recorded=False))
    return out


def _fairlearn_frame(s: Scored, labels: pd.Series, keep: np.ndarray):
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    metrics = {
        "accuracy": accuracy_score,
        "balanced_accuracy": balanced_accuracy_score,
        "macro_f1": partial(f1_score, average="macro", zero_division=0),
    }
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true" in small groups
        warnings.simplefilter("ignore", UserWarning)
        return MetricFrame(
            metrics=metrics,
            y_true=s.y[keep],
            y_pred=s.pred[keep],
            sensitive_features=labels[keep].to_numpy(),
        )


def evaluate_grouping(
    s: Scored, grouping: Grouping, classes: list[str], p: EvaluateParams
) -> tuple[list[dict], dict[str, Any]]:
    """Rows for subgroups.parquet and the grouping's summary (for evaluation.json). Images in
    no group (an unknown value) are left out, counted in ``n_unknown``: every share, gap and
    fairness ratio compares known groups only."""
    known = grouping.labels.notna().to_numpy()
    if not known.all():
        s = Scored(s.y[known], s.probs[known], s.top_k, s.bins)
        grouping = Grouping(grouping.name, grouping.labels[known].reset_index(drop=True))
    codes, names = pd.factorize(grouping.labels, sort=True)
    point, boots = group_sums(s, codes, len(names), p.n_bootstrap, p.seed)
    m = metrics_from_sums(point, s.n_classes, s.bins)
    mb = metrics_from_sums(boots, s.n_classes, s.bins) if p.n_bootstrap else None
    n = m["n"].astype(int)
    ok = n >= p.min_group_size
    rows: list[dict] = []
    summary: dict[str, Any] = {
        "recorded": grouping.recorded,
        "n_unknown": int((~known).sum()),
        "groups": {},
        "too_few_samples": [str(x) for x in names[~ok]],
    }
    frame = _fairlearn_frame(s, grouping.labels, ok[codes]) if ok.any() else None

    # The signed gap of each group against the rest: same resamples, so the pair is honest.
    rest = point.sum(axis=0) - point
    gap = metrics_from_sums(rest, s.n_classes, s.bins)["accuracy"] - m["accuracy"]
    gap_boot = None
    if mb is not None:
        rest_b = boots.sum(axis=1, keepdims=True) - boots
        gap_boot = metrics_from_sums(rest_b, s.n_classes, s.bins)["accuracy"] - mb["accuracy"]

    scored_classes = fairness.positive_classes(classes, p) if grouping.recorded else []
    eligible = fairness.eligible_groups(point, s.n_classes, p)
    point_rates = fairness.rates(point, s.n_classes)
    boot_rates = fairness.rates(boots, s.n_classes) if mb is not None else None
    for g, name in enumerate(map(str, names)):
        status = "ok" if ok[g] else f"too few samples (n={n[g]} < {p.min_group_size})"
        cells = []  # (metric, value, bootstrap values, why it is not shown)
        for metric in reported_metrics(s):
            headline = metric in HEADLINE and ok[g]
            value = (
                frame.by_group.loc[name, metric] if headline and frame is not None else m[metric][g]
            )
            cells.append((metric, value, None if mb is None else mb[metric][:, g], ""))
        boot = None if gap_boot is None else gap_boot[:, g]
        cells.append(("accuracy_gap_vs_rest", gap[g], boot, ""))
        for k, cls in enumerate(classes):
            support = int(m["support"][g, k])
            few = support < p.min_class_support
            why = f"too few of class {cls} (n={support} < {p.min_class_support})" if few else ""
            boot = None if mb is None else mb["recall"][:, g, k]
            cells.append((f"recall[{cls}]", m["recall"][g, k], boot, why))
        for rate, values in point_rates.items():
            for k in scored_classes:
                boot = None if boot_rates is None else boot_rates[rate][:, g, k]
                few = not eligible[fairness.RATE_GROUPS[rate]][g, k]
                why = f"too few images with and without class {classes[k]}" if few else ""
                cells.append((f"{rate}[{classes[k]}]", values[g, k], boot, why))
        entry: dict[str, Any] = {"n": int(n[g]), "status": status}
        for metric, value, boot, why_not in cells:
            why_not = why_not if ok[g] else status
            lo, hi = percentile_interval(boot, p.ci_level) if boot is not None else (np.nan, np.nan)
            shown = [np.nan] * 3 if why_not else [float(value), float(lo), float(hi)]
            rows.append(
                {"grouping": grouping.name, "group": name, "n": int(n[g])}
                | {"status": why_not or "ok", "metric": metric}
                | dict(zip(("value", "ci_low", "ci_high"), shown, strict=True))
            )
            if not why_not:
                entry[metric] = rounded(value)
                entry[f"{metric}_ci"] = [rounded(lo), rounded(hi)]
        summary["groups"][name] = entry

    if frame is not None and ok.sum() >= 2:
        summary["difference"] = {k: rounded(v) for k, v in frame.difference().items()}
        summary["ratio"] = {k: rounded(v) for k, v in frame.ratio().items()}
        summary["worst_group"] = _worst_group(names, m, ok, gap, gap_boot, p)
        summary["recall_gaps"] = _recall_gaps(names, m, ok, classes, p)
        gaps = [r["gap"] for r in summary["recall_gaps"].values()]
        summary["max_recall_gap"] = max(gaps) if gaps else None
        if grouping.recorded:
            named = fairness.summarize(
                point, boots if mb is not None else None, classes, list(map(str, names)), p
            )
            if named is not None:
                summary["fairness"] = named
    return rows, summary


def _worst_group(names, m, ok, gap, gap_boot, p: EvaluateParams) -> dict[str, Any]:
    eligible = np.flatnonzero(ok)
    g = eligible[np.nanargmin(m["accuracy"][eligible])]
    level = 1 - (1 - p.ci_level) / len(eligible)  # Bonferroni: the group was chosen as the worst
    out: dict[str, Any] = {
        "group": str(names[g]),
        "n": int(m["n"][g]),
        "accuracy": rounded(m["accuracy"][g]),
        "accuracy_gap_vs_rest": rounded(gap[g]),
        "ci_level": round(level, 6),
    }
    if gap_boot is not None:
        lo, hi = percentile_interval(gap_boot[:, g], level)
        out["gap_ci"] = [rounded(lo), rounded(hi)]
        out["significant"] = bool(lo > 0)
    return out


def _recall_gaps(names, m, ok, classes, p: EvaluateParams) -> dict[str, dict]:
    """Per class: the best and the worst group's recall among groups with enough of the class."""
    out = {}
    for k, cls in enumerate(classes):
        eligible = np.flatnonzero(ok & (m["support"][:, k] >= p.min_class_support))
        if len(eligible) < 2:
            continue
        recall = m["recall"][eligible, k]
        lo, hi = eligible[np.argmin(recall)], eligible[np.argmax(recall)]
        out[cls] = {
            "gap": rounded(recall.max() - recall.min()),
            "lowest": str(names[lo]),
            "lowest_recall": rounded(m["recall"][lo, k]),
            "highest": str(names[hi]),
            "highest_recall": rounded(m["recall"][hi, k]),
        }
    return out
