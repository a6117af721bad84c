"""The review queue: images a person should look at and relabel, most urgent first.

Every label signal is a calibrated probability that the given label is wrong: from the model's
out-of-fold probabilities (label_issue: checks/label_evidence.py), from the annotators' votes
(label_differs_from_consensus and low_agreement: the consensus probability of the given label),
and from duplicates that carry other labels (duplicate_label_conflict: the share of the twins
that disagree). Signals from one source are not independent, so each source counts once (its
strongest signal); the sources are, and combine as a noisy-OR, 1 - prod(1 - p): two independent
signals outrank either alone, and no capped score makes a block of ties.

The model's signal is a probability only when its evidence check passed
(label_quality.json, evidence.supported). When it did not, its score is the image's place in
the model's ranking: it is left out of the noisy-OR (an order is not a probability) and only
orders the images it flags after those with a probability from another source; such rows have
no priority, and ``priority_is_probability`` says which rows have one.

Each row's ``evidence`` names what sent it here, in tokens a later audit can compare: the
annotators' votes for a vote signal (``votes:<n>``, n votes: which vote signal fires shifts as
votes come in, and a reviewer's own answer, itself a vote, is not counted), the model for the
model's signal (``label_issue@<where the probabilities came from>``), each twin for a twin
conflict (``twin:<path>``). An image a person already relabelled or confirmed is left out while
its evidence is all evidence that person saw (a task shows the votes' consensus, so a reviewer
saw the votes there were); a new twin, a new model or more votes bring it back.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from curator.artifacts import VOTES_EVIDENCE, votes_token
from curator.checks.duplicates import cluster_members

# label signal -> the evidence it comes from
SIGNAL_SOURCE = {
    "label_issue": "model",
    "label_differs_from_consensus": "votes",
    "low_agreement": "votes",
    "duplicate_label_conflict": "twins",
}
RELABEL_SIGNALS = tuple(SIGNAL_SOURCE)
COLUMNS = [
    "rank",
    "path",
    "sample_id",
    "priority",
    "priority_is_probability",
    "model_order",
    "n_sources",
    "signals",
    "reasons",
    "evidence",
]


def evidence_tokens(issue: str, path: str, detail: str, model: str, votes: int) -> set[str]:
    """What one signal rests on, as tokens: see the module's docstring."""
    if issue == "label_issue":
        return {f"label_issue@{model}"}
    if issue == "duplicate_label_conflict" and (members := cluster_members(detail)):
        return {f"twin:{p}" for p in sorted(members - {path})}
    if SIGNAL_SOURCE.get(issue) == "votes":  # the votes: one body of evidence
        return {votes_token(votes)}
    return {SIGNAL_SOURCE.get(issue, issue)}


def is_new_evidence(now: set[str], seen: set[str]) -> bool:
    """Whether tokens ``now`` hold anything a reviewer who saw ``seen`` did not: votes count
    as seen when no more of them are there than the reviewer saw (``votes`` alone, from
    corrections written before votes were counted, covers any number)."""
    if "votes" in seen:
        seen_votes = float("inf")
    else:
        counts = [int(t.removeprefix(VOTES_EVIDENCE)) for t in seen if t.startswith(VOTES_EVIDENCE)]
        seen_votes = max(counts, default=-1)
    for token in now - seen:
        if (
            not token.startswith(VOTES_EVIDENCE)
            or int(token.removeprefix(VOTES_EVIDENCE)) > seen_votes
        ):
            return True
    return False


def build_review_queue(
    issues: pd.DataFrame,
    model_is_probability: bool = True,
    model: str = "model",
    reviewed: Mapping[str, str] | None = None,
    votes: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """One row per image with at least one relabel signal, ranked by combined priority (then,
    when the model's scores are an order and not probabilities, by that order). ``model``
    names where the model's probabilities came from; ``reviewed`` maps each image a person
    relabelled or confirmed to the ';'-joined evidence tokens they saw; ``votes``: how many
    annotators (not reviewers) voted on each image."""
    signals = issues[issues["issue"].isin(RELABEL_SIGNALS)]
    if signals.empty:
        return pd.DataFrame(columns=COLUMNS)
    votes = votes or {}
    tokens = [
        evidence_tokens(i, p, d, model, votes.get(p, 0))
        for i, p, d in zip(signals["issue"], signals["path"], signals["detail"], strict=True)
    ]
    evidence = (
        pd.Series(tokens, index=signals.index)
        .groupby(signals["path"])
        .agg(lambda sets: set().union(*sets))
    )
    seen = {path: set(t.split(";")) for path, t in (reviewed or {}).items()}
    new = [path for path, now in evidence.items() if is_new_evidence(now, seen.get(path, set()))]
    signals = signals[signals["path"].isin(new)]
    if signals.empty:
        return pd.DataFrame(columns=COLUMNS)
    signals = signals.assign(source=signals["issue"].map(SIGNAL_SOURCE))
    per_source = signals.groupby(["path", "source"], sort=False)["score"].max().clip(0, 1)
    source = per_source.index.get_level_values("source")
    order = per_source[source == "model"].droplevel("source")
    if not model_is_probability:
        per_source = per_source[source != "model"]
    priority = per_source.groupby(level="path").agg(lambda s: 1.0 - float(np.prod(1.0 - s)))
    grouped = signals.sort_values(["path", "issue"]).groupby("path", sort=False)
    queue = grouped.agg(
        sample_id=("sample_id", "first"),
        n_sources=("source", "nunique"),
        signals=("issue", ", ".join),
        reasons=("detail", " | ".join),
    ).reset_index()
    queue.insert(2, "priority", queue["path"].map(priority).astype(float))
    queue["evidence"] = queue["path"].map(lambda p: ";".join(sorted(evidence[p])))
    queue["priority_is_probability"] = queue["priority"].notna()
    queue["model_order"] = (
        np.nan if model_is_probability else queue["path"].map(order).astype(float)
    )
    queue = queue.sort_values(
        ["priority", "model_order", "n_sources", "path"],
        ascending=[False, False, False, True],
        na_position="last",
        ignore_index=True,
    )
    queue.insert(0, "rank", np.arange(1, len(queue) + 1))
    return queue[COLUMNS]
