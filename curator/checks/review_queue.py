"""The review queue: images a person should look at and relabel, most urgent first.

Every label signal is a calibrated probability that the given label is wrong: from the model's
out-of-fold probabilities (label_issue: checks/label_evidence.py), from the annotators' votes
(label_differs_from_consensus and low_agreement: the consensus probability of the given label),
and from duplicates that carry other labels (duplicate_label_conflict: the share of the twins
that disagree). Signals from one source are not independent, so each source counts once (its
strongest signal); the sources are, and combine as a noisy-OR, 1 - prod(1 - p): two independent
signals outrank either alone, and no capped score makes a block of ties.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# label signal -> the evidence it comes from
SIGNAL_SOURCE = {
    "label_issue": "model",
    "label_differs_from_consensus": "votes",
    "low_agreement": "votes",
    "duplicate_label_conflict": "twins",
}
RELABEL_SIGNALS = tuple(SIGNAL_SOURCE)
COLUMNS = ["rank", "path", "sample_id", "priority", "n_sources", "signals", "reasons"]


def build_review_queue(issues: pd.DataFrame) -> pd.DataFrame:
    """One row per image with at least one relabel signal, ranked by combined priority."""
    signals = issues[issues["issue"].isin(RELABEL_SIGNALS)]
    if signals.empty:
        return pd.DataFrame(columns=COLUMNS)
    signals = signals.assign(source=signals["issue"].map(SIGNAL_SOURCE))
    per_source = signals.groupby(["path", "source"], sort=False)["score"].max().clip(0, 1)
    priority = per_source.groupby(level="path").agg(lambda s: 1.0 - float(np.prod(1.0 - s)))
    grouped = signals.sort_values(["path", "issue"]).groupby("path", sort=False)
    queue = grouped.agg(
        sample_id=("sample_id", "first"),
        n_sources=("source", "nunique"),
        signals=("issue", ", ".join),
        reasons=("detail", " | ".join),
    ).reset_index()
    queue.insert(2, "priority", queue["path"].map(priority))
    queue = queue.sort_values(
        ["priority", "n_sources", "path"], ascending=[False, False, True], ignore_index=True
    )
    queue.insert(0, "rank", np.arange(1, len(queue) + 1))
    return queue[COLUMNS]
