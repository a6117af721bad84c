"""Review through a file: tasks written to a CSV a reviewer edits, answers read back.

For teams without an annotation server. ``push`` writes one row per image with the evidence
(given label, the model's suggestion, the annotators' consensus and its confidence, why it was
flagged, its twins) and empty answer columns; the reviewer fills ``verdict`` (relabel or
confirmed), ``new_label`` and ``reviewer`` (``reviewed_at`` may stay empty: the file's time is
used). ``answers`` turns the filled rows into corrections rows, refusing the whole file when a
row is wrong (a typo in a verdict or a class) and setting aside, one line each, answers whose
image changed after the push.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from curator.errors import DataError
from curator.io.sources import read_table
from curator.io.tables import atomic_path
from curator.review import corrections

EVIDENCE = (
    "task",
    "path",
    "image",
    "sample_id",
    "given_label",
    "suggested_label",
    "model_probability",
    "consensus_label",
    "consensus_confidence",
    "priority",
    "signals",
    "reasons",
    "twins",
    "drawn",
    "evidence",
)
ANSWERS = ("verdict", "new_label", "reviewer", "reviewed_at", "note")


def tasks(
    queue: pd.DataFrame,
    manifest: pd.DataFrame,
    label_issues: pd.DataFrame | None,
    consensus: pd.DataFrame | None,
    pairs: pd.DataFrame | None,
    data_root: str,
) -> pd.DataFrame:
    """One task per queue row (in the queue's order), with the evidence a reviewer needs."""
    by_path = manifest.set_index("path")
    out = pd.DataFrame(
        {
            "task": [str(k) for k in range(1, len(queue) + 1)],
            "path": queue["path"].to_numpy(),
            "image": [f"{data_root.rstrip('/')}/{p}" for p in queue["path"]],
            "sample_id": queue["path"].map(by_path["sample_id"]).to_numpy(),
            "given_label": queue["path"].map(by_path["label"]).to_numpy(),
        }
    )
    issues = _indexed(label_issues)
    votes = _indexed(consensus)
    out["suggested_label"] = out["path"].map(issues.get("suggested_label", {}))
    out["model_probability"] = out["path"].map(issues.get("p_suggested", {}))
    out["consensus_label"] = out["path"].map(votes.get("consensus_label", {}))
    out["consensus_confidence"] = out["path"].map(votes.get("consensus_confidence", {}))
    out["priority"] = queue["priority"].to_numpy()
    out["signals"] = queue["signals"].to_numpy()
    out["reasons"] = queue["reasons"].to_numpy()
    out["twins"] = out["path"].map(_twins(pairs)).fillna("")
    out["drawn"] = queue["drawn"].to_numpy()
    out["evidence"] = queue["evidence"].to_numpy()
    for column in ANSWERS:
        out[column] = ""
    return out


def _indexed(table: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if table is None else table.set_index("path")


def _twins(pairs: pd.DataFrame | None) -> dict[str, str]:
    """path -> its twins' paths with their labels, surest first."""
    if pairs is None or pairs.empty:
        return {}
    both = pd.concat(
        [
            pairs[["path_a", "path_b", "label_b", "score"]].set_axis(
                ["path", "twin", "label", "score"], axis=1
            ),
            pairs[["path_b", "path_a", "label_a", "score"]].set_axis(
                ["path", "twin", "label", "score"], axis=1
            ),
        ]
    ).sort_values(["path", "score", "twin"], ascending=[True, False, True])
    return {
        path: "; ".join(f"{t} ({label})" for t, label in zip(g["twin"], g["label"], strict=True))
        for path, g in both.groupby("path", sort=False)
    }


def write_tasks(table: pd.DataFrame, out: Path) -> None:
    with atomic_path(Path(out), now=True) as tmp:
        table[list(EVIDENCE + ANSWERS)].to_csv(tmp, index=False, float_format="%.4g")


def read_sheet(path: Path) -> pd.DataFrame:
    """A tasks file as text, indexed by file line (the header is line 1)."""
    sheet = read_table(Path(path), "review answers")
    missing = [c for c in ("task", "path", "sample_id", "given_label", *ANSWERS) if c not in sheet]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; was it written by "
            "`curator review push --tool file`? Keep its header as it is."
        )
    sheet.index = sheet.index + 2
    return sheet


def answers(path: Path, classes: set[str]) -> corrections.Answers:
    """The answered rows of a tasks file as corrections rows, indexed by their line."""
    sheet = read_sheet(path)
    done = sheet[sheet["verdict"].str.strip() != ""]
    stamp = datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)
    rows = pd.DataFrame(
        {
            "path": done["path"],
            "sample_id": done["sample_id"],
            "old_label": done["given_label"],
            "verdict": done["verdict"].str.strip().str.lower(),
            "new_label": done["new_label"],
            "reviewer": done["reviewer"],
            "reviewed_at": done["reviewed_at"].where(
                done["reviewed_at"].str.strip() != "", stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            ),
            "task": f"{Path(path).name}#" + done["task"],
            "drawn": done.get("drawn", ""),
            "evidence": done.get("evidence", ""),
            "reasons": done.get("reasons", ""),
        }
    )
    rows.index = [f"line {i}" for i in rows.index]
    table = corrections.validate(rows, classes, str(path), list(rows.index))
    return corrections.Answers(table, len(sheet) - len(done))
