"""The corrections table: what people said about flagged images, kept beside the data.

One row per answer: which image (path and the SHA-256 of the bytes the reviewer saw), the label
it had, the verdict (``relabel`` with the new label, or ``confirmed``), who answered, when, from
which task, and the evidence that sent it to review. It is a CSV the user versions with DVC
(``dvc add corrections.csv``): curator appends to it and never rewrites an answer, and the
ingest stage applies it to the manifest without touching the images or the user's labels file.

Applying it: an image's answers count only if its bytes and its given label are still those the
reviewer saw (otherwise the answer is stale, a finding, and the image goes back to review). The
latest answer of each reviewer counts; reviewers who agree set the label (``label_source``
review, ``original_label`` keeps the given one); reviewers who disagree leave the given label in
place and make a ``review_conflict`` finding. Every counted answer is also a vote of its reviewer
in the annotations, so reviewers feed agreement and consensus like any annotator.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator import artifacts
from curator.artifacts import CORRECTION_COLUMNS
from curator.errors import DataError
from curator.io.sources import read_table
from curator.io.tables import atomic_path
from curator.review import errors_left

COLUMNS = CORRECTION_COLUMNS
VERDICTS = ("relabel", "confirmed")
DRAWN = ("queue", "random", "paths", "")  # empty: an answer written by hand
# one answer: the same reviewer's answer to the same task at the same time is the same answer
KEY = ("sample_id", "reviewer", "task", "reviewed_at")
MAX_LISTED = 5  # problems named in one error message
_SHA256 = re.compile(r"[0-9a-f]{64}")


def empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in COLUMNS})


def outcome(table: pd.DataFrame) -> pd.Series:
    """The label each answer leaves the image with."""
    return table["new_label"].where(table["verdict"] == "relabel", table["old_label"])


def validate(
    table: pd.DataFrame,
    classes: Collection[str],
    where: str,
    rows: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The table with its text cells stripped (index kept), or one DataError naming every bad
    row (up to MAX_LISTED; ``rows``: how to name each row in ``where``, by default its line
    in a CSV with a header, e.g. "task 17" for a server's) and how to fix it: nothing is
    applied from a table with a bad row."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {', '.join(missing)}; the header must be "
            f"{','.join(COLUMNS)}."
        )
    table = table[list(COLUMNS)].astype("string").fillna("")
    table = table.apply(lambda column: column.str.strip())
    known = set(classes)
    shown = ", ".join(sorted(known)[:20])
    problems: list[str] = []
    seen: dict[tuple, str] = {}
    names = [f"line {i}" for i in range(2, len(table) + 2)] if rows is None else rows
    times = pd.to_datetime(table["reviewed_at"], utc=True, errors="coerce", format="ISO8601")
    for name, row, when in zip(names, table.itertuples(index=False), times, strict=True):
        line = f"{where} {name}"
        if row.verdict not in VERDICTS:
            problems.append(
                f"{line}: verdict {row.verdict!r} is not one of {', '.join(VERDICTS)}; correct it"
            )
        elif row.verdict == "relabel" and row.new_label not in known:
            problems.append(
                f"{line}: new_label {row.new_label!r} is not a class of this dataset "
                f"({shown}); correct the spelling"
            )
        elif row.verdict == "relabel" and row.new_label == row.old_label:
            problems.append(
                f"{line}: new_label equals old_label {row.old_label!r}; write verdict confirmed"
            )
        elif row.verdict == "confirmed" and row.new_label not in ("", row.old_label):
            problems.append(
                f"{line}: verdict confirmed but new_label {row.new_label!r} differs from "
                f"old_label {row.old_label!r}; write verdict relabel or clear new_label"
            )
        if not _SHA256.fullmatch(row.sample_id):
            problems.append(
                f"{line}: sample_id {row.sample_id!r} is not the SHA-256 (64 hex digits) of the "
                "reviewed file; copy it from the task"
            )
        if row.drawn not in DRAWN:
            problems.append(
                f"{line}: drawn {row.drawn!r} is not one of queue, random, paths (or empty); "
                "correct it"
            )
        for column in ("path", "old_label", "reviewer", "task"):
            if not getattr(row, column):
                problems.append(f"{line}: {column} is empty; fill it in")
        if pd.isna(when):
            problems.append(
                f"{line}: reviewed_at {row.reviewed_at!r} is not an ISO 8601 time; write it "
                "like 2026-12-07T10:30:00Z"
            )
        key = tuple(getattr(row, c) for c in KEY)
        if key in seen:
            problems.append(f"{line}: repeats {seen[key]}; delete one of them")
        seen.setdefault(key, name)
    if problems:
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise DataError("; ".join(problems[:MAX_LISTED]) + more + ". Nothing was applied.")
    return table


def read(path: Path, classes: Collection[str]) -> pd.DataFrame:
    """The corrections at ``path`` (none when the file does not exist), validated."""
    if not Path(path).exists():
        return empty()
    return validate(read_table(path, "corrections"), classes, str(path))


def merge(existing: pd.DataFrame, answers: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """(existing + the answers it does not hold yet, number added, number already there):
    pulling the same answers twice adds nothing, nor does an answer that repeats the latest
    one its reviewer gave the same task (a tool may report it again with a newer time);
    earlier rows are never changed or reordered."""
    have = set(existing[list(KEY)].itertuples(index=False, name=None))
    task = ["sample_id", "reviewer", "task"]
    when = pd.to_datetime(existing["reviewed_at"], utc=True, format="ISO8601")
    latest = existing.assign(when=when).sort_values("when", kind="stable").groupby(task).tail(1)
    said = {
        (*k, v, n)
        for *k, v, n in latest[[*task, "verdict", "new_label"]].itertuples(index=False, name=None)
    }
    known = [
        key in have or (*key[:3], verdict, new) in said
        for key, verdict, new in zip(
            answers[list(KEY)].itertuples(index=False, name=None),
            answers["verdict"],
            answers["new_label"],
            strict=True,
        )
    ]
    new = answers[[not k for k in known]].drop_duplicates(list(KEY))
    merged = pd.concat([existing, new], ignore_index=True)[list(COLUMNS)]
    return merged, len(new), len(answers) - len(new)


def write(table: pd.DataFrame, path: Path) -> None:
    """Atomically, every cell as text, in the column order of COLUMNS."""
    with atomic_path(Path(path), now=True) as tmp:
        table[list(COLUMNS)].to_csv(tmp, index=False)


@dataclass
class Answers:
    """Answers read from a review tool: corrections rows indexed by how the tool names each
    (``line 7``, ``task 17``), tasks nobody answered, and lines about tasks that are gone."""

    table: pd.DataFrame
    n_open: int = 0
    gone: list[str] = field(default_factory=list)


@dataclass
class Applied:
    manifest: pd.DataFrame
    annotations: pd.DataFrame
    findings: list[dict[str, Any]] = field(default_factory=list)  # issue-schema rows
    facts: dict[str, Any] = field(default_factory=dict)


def apply(
    manifest: pd.DataFrame, annotations: pd.DataFrame, table: pd.DataFrame, level: float = 0.95
) -> Applied:
    """The manifest with ``label`` corrected and ``original_label``, ``label_source``,
    ``review`` (relabelled / confirmed / conflict / stale, empty when never reviewed) and
    ``review_evidence`` (the evidence the counted answers saw, ';'-joined); the annotations
    with every counted answer as a vote; stale answers and conflicts as findings; and the
    estimates of the wrong labels left (errors_left.py) at interval level ``level``."""
    manifest = manifest.assign(
        original_label=manifest["label"],
        label_source="given",
        review="",
        review_evidence="",
    )
    facts: dict[str, Any] = {"n_answers": len(table)}
    if table.empty:
        return Applied(manifest, annotations, facts=facts | _counts(manifest))
    now = manifest[["path", "sample_id", "label"]].rename(
        columns={"sample_id": "current_id", "label": "current_label"}
    )
    answers = table.merge(now, on="path", how="left")
    gone = answers["current_id"].isna()
    facts["answers_for_missing_images"] = sorted(answers.loc[gone, "path"].unique())[:20]
    answers = answers[~gone]
    same_bytes = answers["sample_id"] == answers["current_id"]
    # a later round sees the label an earlier round set: any label a reviewer gave these bytes
    given = answers.groupby("path")["current_label"].first()
    set_by_review = answers[same_bytes & (answers["verdict"] == "relabel")]
    labels_seen = {path: {label} for path, label in given.items()}
    for path, label in zip(set_by_review["path"], set_by_review["new_label"], strict=True):
        labels_seen[path].add(label)
    stale = ~same_bytes | ~pd.Series(
        [
            old in labels_seen[p]
            for p, old in zip(answers["path"], answers["old_label"], strict=True)
        ],
        index=answers.index,
    )
    findings = [_stale_finding(a) for a in answers[stale].itertuples(index=False)]
    counted = answers[~stale].assign(
        when=lambda d: pd.to_datetime(d["reviewed_at"], utc=True, format="ISO8601")
    )
    counted = counted.sort_values(["path", "reviewer", "when"], kind="stable")
    counted = counted.groupby(["path", "reviewer"], sort=False).tail(1)  # a reviewer's latest
    counted = counted.assign(outcome=outcome(counted))
    index = manifest.reset_index(drop=True).set_index("path")
    stale_paths = set(answers.loc[stale, "path"]) - set(counted["path"])
    index.loc[sorted(stale_paths), "review"] = "stale"
    outcomes: dict[str, set[str]] = {}
    tokens: dict[str, set[str]] = {}
    for path, label, seen in zip(
        counted["path"].tolist(),
        counted["outcome"].tolist(),
        counted["evidence"].tolist(),
        strict=True,
    ):
        outcomes.setdefault(path, set()).add(label)
        tokens.setdefault(path, set()).update(t for t in seen.split(";") if t)
    reviewed = sorted(outcomes)
    index.loc[reviewed, "review_evidence"] = [";".join(sorted(tokens[p])) for p in reviewed]
    conflicted = [p for p in reviewed if len(outcomes[p]) > 1]
    index.loc[conflicted, "review"] = "conflict"
    findings += [
        _conflict_finding(p, index.loc[p], counted[counted["path"] == p]) for p in conflicted
    ]
    agreed = pd.Series({p: next(iter(outcomes[p])) for p in reviewed if len(outcomes[p]) == 1})
    if len(agreed):
        changed = (agreed != index.loc[agreed.index, "original_label"]).to_numpy()
        index.loc[agreed.index, "label"] = agreed
        index.loc[agreed.index, "label_source"] = np.where(changed, "review", "given")
        index.loc[agreed.index, "review"] = np.where(changed, "relabelled", "confirmed")
    manifest = index.reset_index()[list(manifest.columns)]
    votes = pd.DataFrame(
        {
            "sample_id": counted["sample_id"],
            "path": counted["path"],
            "annotator": artifacts.REVIEWER_PREFIX + counted["reviewer"],
            "label": counted["outcome"],
        }
    )
    annotations = pd.concat([annotations, votes.astype(annotations.dtypes.to_dict())])
    return Applied(
        manifest,
        annotations.reset_index(drop=True),
        findings,
        facts
        | _counts(manifest)
        | {"n_answers_counted": len(counted)}
        | errors_left.estimate(counted, manifest.set_index("path")["review"], level),
    )


def annotator_votes(annotations: pd.DataFrame) -> pd.Series:
    """path -> how many annotators voted on it (reviewers' answers not counted)."""
    given = annotations[
        ~annotations["annotator"].astype(str).str.startswith(artifacts.REVIEWER_PREFIX)
    ]
    return given.groupby("path").size()


def _counts(manifest: pd.DataFrame) -> dict[str, int]:
    review = manifest["review"]
    return {
        f"n_{state}": int((review == state).sum())
        for state in ("relabelled", "confirmed", "conflict", "stale")
    }


def _stale_finding(answer: Any) -> dict[str, Any]:
    if answer.sample_id != answer.current_id:
        what = (
            f"the file changed after {answer.reviewer} reviewed it in task {answer.task} "
            f"(bytes {answer.sample_id[:12]}... then, {answer.current_id[:12]}... now)"
        )
    else:
        what = (
            f"{answer.reviewer} reviewed it as {answer.old_label!r} in task {answer.task}; "
            f"the data now labels it {answer.current_label!r}"
        )
    return {
        "sample_id": answer.current_id,
        "path": answer.path,
        "issue": "stale_correction",
        "score": 1.0,
        "detail": f"{what}: the answer is not applied; send the image to review again",
    }


def _conflict_finding(path: str, row: pd.Series, group: pd.DataFrame) -> dict[str, Any]:
    said = "; ".join(
        f"{a.reviewer} says {a.outcome!r} (task {a.task})" for a in group.itertuples(index=False)
    )
    return {
        "sample_id": row["sample_id"],
        "path": path,
        "issue": "review_conflict",
        "score": 1.0,
        "detail": f"reviewers disagree: {said}; the given label {row['original_label']!r} is "
        "kept until one answer settles it",
    }
