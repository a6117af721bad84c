"""Is a group's gap its own, or another factor's? The worst group's accuracy gap, adjusted for
each other evaluated factor.

A sensitive feature's worst group can be worse only because it holds more of something else
the model finds hard: more children in one ethnic group, more dark photos from one site. The
comparison within each level of the other factor answers it: the Mantel-Haenszel risk
difference (Greenland and Robins 1985) of accuracy, rest minus group, weights each level by
n_group n_rest / (n_group + n_rest), so a level only one side has counts for nothing. When the
adjusted gap keeps less than half the raw one and its interval holds 0, the other factor
explains most of the gap, and the report says so beside the raw number; but only when at least
half the group's images lie in levels the rest shares (a group that is nearly one level of the
other factor cannot be compared within it). Both gaps come from the
same bootstrap resamples (evaluation/metrics.py's group sums), so they are compared fairly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.evaluation.intervals import percentile_interval
from curator.evaluation.metrics import Scored, group_sums, metrics_from_sums, rounded
from curator.params import EvaluateParams

EXPLAINED_SHARE = 0.5  # an adjustment that removes at least this share of the gap explains it
# the share of the group's images in levels the rest shares, below which no comparison within
# levels can speak for the group (it is, nearly, one of the other factor's levels)
MIN_OVERLAP = 0.5


def adjusted_gap(
    s: Scored, member: np.ndarray, strata: pd.Series, p: EvaluateParams
) -> dict[str, Any] | None:
    """The raw gap (rest minus ``member`` group accuracy) and the Mantel-Haenszel gap within
    the levels of ``strata`` (<NA>: left out), each with its interval; None when no level holds
    both sides."""
    known = strata.notna().to_numpy()
    levels, stratum = np.unique(strata[known].astype(str).to_numpy(), return_inverse=True)
    codes = member[known].astype(int) * len(levels) + stratum
    sub = Scored(s.y[known], s.probs[known], s.top_k, s.bins)
    point, boots = group_sums(sub, codes, 2 * len(levels), p.n_bootstrap, p.seed)
    raw, adjusted = _gaps(point, len(levels), sub)
    if np.isnan(adjusted):
        return None
    n, _ = _cells(point, len(levels), sub)
    both = _both_sides(point, len(levels), sub)
    overlap = float(n[1, both].sum() / n[1].sum())
    out: dict[str, Any] = {
        "n_levels_compared": int(both.sum()),
        "group_share_compared": rounded(overlap),
        "comparable": overlap >= MIN_OVERLAP,
        "n_unknown": int((~known).sum()),
        "raw_gap": rounded(raw),
        "adjusted_gap": rounded(adjusted),
        "share_explained": rounded(1 - adjusted / raw) if raw > 0 else None,
    }
    if p.n_bootstrap:
        raw_b, adjusted_b = _gaps(boots, len(levels), sub)
        out["raw_gap_ci"] = [rounded(v) for v in percentile_interval(raw_b, p.ci_level)]
        out["adjusted_gap_ci"] = [rounded(v) for v in percentile_interval(adjusted_b, p.ci_level)]
        low = out["adjusted_gap_ci"][0]
        out["explains_most"] = bool(
            raw > 0
            and out["comparable"]
            and adjusted < (1 - EXPLAINED_SHARE) * raw
            and low is not None
            and low <= 0
        )
    return out


def _cells(sums: np.ndarray, n_levels: int, s: Scored) -> tuple[np.ndarray, np.ndarray]:
    """(images, accuracy) per (side, level), side 0 the rest and 1 the group: (..., 2, L)."""
    m = metrics_from_sums(sums, s.n_classes, s.bins)
    shape = (*sums.shape[:-2], 2, n_levels)
    return m["n"].reshape(shape), m["accuracy"].reshape(shape)


def _both_sides(sums: np.ndarray, n_levels: int, s: Scored) -> np.ndarray:
    n, _ = _cells(sums, n_levels, s)
    return (n[..., 0, :] > 0) & (n[..., 1, :] > 0)


def _gaps(sums: np.ndarray, n_levels: int, s: Scored) -> tuple[np.ndarray, np.ndarray]:
    """Raw and Mantel-Haenszel gaps (rest minus group), per resample when ``sums`` has one."""
    n, acc = _cells(sums, n_levels, s)
    rest_n, group_n = n[..., 0, :], n[..., 1, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        correct = np.nan_to_num(acc * n)
        rest_acc = correct[..., 0, :].sum(-1) / rest_n.sum(-1)
        raw = rest_acc - correct[..., 1, :].sum(-1) / group_n.sum(-1)
        weight = np.where((rest_n > 0) & (group_n > 0), rest_n * group_n / (rest_n + group_n), 0.0)
        diff = np.nan_to_num(acc[..., 0, :] - acc[..., 1, :])
        adjusted = (weight * diff).sum(-1) / weight.sum(-1)
    return raw, adjusted
