"""How many wrong labels are left after review rounds, and whether reviewing more of the queue
still pays: estimated from the answers, with intervals.

* **Errors left.** A round may add a random sample (`curator review push --random N`), drawn
  uniformly from the images no one had reviewed (the pool, whose size each such task records).
  The share the reviewers relabel in it estimates the share wrong in the whole pool, without
  bias whatever the queue's ranking is worth (Jeffreys interval). The errors left now are that
  estimate minus the errors the sample itself fixed and minus the pool's images relabelled in
  later rounds. Without a random sample nothing is estimated: the queue's own precision says
  nothing about the images it does not flag.
* **The next band of the queue.** The share relabelled among the lowest-ranked answers of the
  latest queue round estimates what the next ones would fix; where precision falls down the
  queue it is an upper estimate, so the wrong labels per band down the round are given too
  (on CIFAR-10N a trend fitted to them was right in one round and wrong in the next:
  benchmarks/RESULTS.md).

The estimates use the latest random sample and the latest queue round; rounds are ordered by
their earliest answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curator.evaluation.intervals import jeffreys_interval

RANDOM_TOKEN = "random:"  # a random task's evidence: random:<pool size>
BAND = 100  # the "next N of the queue" the estimate speaks of, and the answers it rests on


def random_evidence(pool: int) -> str:
    return f"{RANDOM_TOKEN}{pool}"


def estimate(counted: pd.DataFrame, review: pd.Series, level: float) -> dict[str, Any]:
    """``counted``: the answers that count (one per image and reviewer, with ``drawn``,
    ``task``, ``evidence``, ``when``); ``review``: each image's review state by path."""
    if counted.empty:
        return {"measured": False, "why": "no answers yet"}
    rounds = counted.assign(round=counted["task"].str.rsplit("#", n=1).str[0])
    order = rounds.groupby("round")["when"].min().sort_values()
    rank = {name: k for k, name in enumerate(order.index)}
    rounds = rounds.assign(rank=rounds["round"].map(rank))
    wrong = review == "relabelled"
    return {
        "errors_left": _errors_left(rounds, review, wrong, level),
        "next_queue_band": _next_band(rounds, wrong, level),
        "level": level,
    }


def _errors_left(rounds: pd.DataFrame, review: pd.Series, wrong: pd.Series, level: float) -> dict:
    random = rounds[rounds["drawn"] == "random"]
    if random.empty:
        return {
            "measured": False,
            "why": "no random sample reviewed: add one to a round (`curator review push --random "
            "100`) to estimate the wrong labels no one has looked at",
        }
    latest = random["rank"].max()
    sample = random[random["rank"] == latest].drop_duplicates("path")
    decided = sample[review.reindex(sample["path"]).isin(["relabelled", "confirmed"]).to_numpy()]
    pool = int(decided["evidence"].str.extract(rf"{RANDOM_TOKEN}(\d+)")[0].astype(float).max())
    n, found = len(decided), int(wrong.reindex(decided["path"]).sum())
    lo, hi = (float(v) for v in jeffreys_interval(found, n, level))
    earlier = set(rounds.loc[rounds["rank"] <= latest, "path"])
    later = rounds[(rounds["rank"] > latest) & ~rounds["path"].isin(earlier)]
    fixed_since = int(wrong.reindex(later["path"].unique()).sum())

    def left(share: float) -> float:
        return max(0.0, share * pool - found - fixed_since)

    return {
        "measured": True,
        "round": str(sample["round"].iloc[0]),
        "pool": pool,
        "n_sample": n,
        "wrong_in_sample": found,
        "share_wrong": found / n if n else None,
        "share_wrong_ci": [lo, hi],
        "fixed_since": fixed_since,
        "left": left(found / n if n else np.nan),
        "left_ci": [left(lo), left(hi)],
    }


def _next_band(rounds: pd.DataFrame, wrong: pd.Series, level: float) -> dict:
    queue = rounds[rounds["drawn"] == "queue"]
    if queue.empty:
        return {"measured": False, "why": "no queue round reviewed yet"}
    latest = queue[queue["rank"] == queue["rank"].max()].drop_duplicates("path")
    number = latest["task"].str.rsplit("#", n=1).str[1]
    position = pd.to_numeric(number, errors="coerce").fillna(0)
    ranked = latest.assign(position=position.to_numpy()).sort_values("position")
    is_wrong = wrong.reindex(ranked["path"]).fillna(False).to_numpy()
    band = ranked.tail(BAND)
    n, found = len(band), int(is_wrong[-BAND:].sum())
    lo, hi = (float(v) for v in jeffreys_interval(found, n, level))
    return {
        "measured": True,
        "round": str(band["round"].iloc[0]),
        "n": n,
        "wrong": found,
        "share_wrong_ci": [lo, hi],
        "next": BAND,
        "would_fix": BAND * found / n,
        "would_fix_ci": [BAND * lo, BAND * hi],
        # [wrong, answers] per BAND answers down the round: how fast precision falls
        "per_band": [
            [int(is_wrong[k : k + BAND].sum()), len(is_wrong[k : k + BAND])]
            for k in range(0, len(ranked), BAND)
        ],
    }
