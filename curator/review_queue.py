"""The review queue: images a person should look at and relabel, most urgent first.

It joins the label signals of every check (cleanlab's label issues, disagreement with the
annotators' consensus, low agreement, duplicates carrying different labels). Each signal's
score is read as the probability that the label needs a look, and independent signals combine
as a noisy-OR, 1 - prod(1 - score): two moderate signals outrank one, and any single strong
one stays near the top.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RELABEL_SIGNALS = (
    "label_issue",
    "label_differs_from_consensus",
    "low_agreement",
    "duplicate_label_conflict",
)


def build_review_queue(issues: pd.DataFrame) -> pd.DataFrame:
    """One row per image with at least one relabel signal, ranked by combined priority."""
    signals = issues[issues["issue"].isin(RELABEL_SIGNALS)]
    if signals.empty:
        return pd.DataFrame(
            columns=["rank", "path", "sample_id", "priority", "n_signals", "signals", "reasons"]
        )
    grouped = signals.sort_values(["path", "issue"]).groupby("path", sort=False)
    queue = grouped.agg(
        sample_id=("sample_id", "first"),
        priority=("score", lambda s: 1.0 - float(np.prod(1.0 - s.clip(0, 1)))),
        n_signals=("issue", "size"),
        signals=("issue", ", ".join),
        reasons=("detail", " | ".join),
    ).reset_index()
    queue = queue.sort_values(
        ["priority", "n_signals", "path"], ascending=[False, False, True], ignore_index=True
    )
    queue.insert(0, "rank", np.arange(1, len(queue) + 1))
    return queue
