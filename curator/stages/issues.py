"""Issues stage: union every stage's findings into one table (audits/issues.parquet).

That one table feeds the reports, FiftyOne tags and the summary printed after an audit; the
relabel review queue (curator/checks/review_queue.py) is built from it here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from curator.artifacts import ISSUE_COLUMNS
from curator.checks.base import empty_flags
from curator.checks.review_queue import build_review_queue
from curator.errors import DataError
from curator.io.tables import outputs_committed_together, read_json, read_parquet, write_parquet
from curator.review import corrections


@outputs_committed_together()
def run(
    findings: Sequence[Path],
    out: Path,
    review_queue: Path | None = None,
    label_evidence: Path | None = None,
    manifest: Path | None = None,
    annotations: Path | None = None,
) -> pd.DataFrame:
    """Write the union of ``findings`` to ``out`` and, if asked, the relabel review queue;
    ``label_evidence`` (label_quality.json) says whether the model's label scores are
    probabilities (its evidence check passed) or only an order, and which model gave them;
    ``manifest`` says which images people already relabelled or confirmed, on what evidence;
    ``annotations`` how many annotators voted on each (more votes are new evidence)."""
    tables = []
    for path in findings:
        df = read_parquet(Path(path), "dvc repro")
        if list(df.columns) != list(ISSUE_COLUMNS):
            raise DataError(
                f"{path}: columns {list(df.columns)} are not the issue schema "
                f"{list(ISSUE_COLUMNS)}; re-run the stage that wrote it."
            )
        tables.append(df)
    issues = pd.concat(tables, ignore_index=True) if tables else empty_flags()
    issues = issues.sort_values(
        ["issue", "score", "path"], ascending=[True, False, True], ignore_index=True
    )
    write_parquet(issues, out)
    if review_queue is not None:
        summary = (
            read_json(Path(label_evidence), "curator label-quality") if label_evidence else None
        )
        queue = build_review_queue(
            issues,
            # no summary: the scores are taken as given
            summary is None or bool(summary.get("evidence", {}).get("supported", False)),
            (summary or {}).get("pred_probs_source", "model"),
            _reviewed(manifest),
            None if annotations is None else _votes(annotations),
        )
        write_parquet(queue, review_queue)
    return issues


def _votes(annotations: Path) -> dict[str, int]:
    return corrections.annotator_votes(read_parquet(annotations, "curator ingest")).to_dict()


def _reviewed(manifest: Path | None) -> dict[str, str]:
    """path -> the evidence its reviewers saw, for images relabelled or confirmed."""
    if manifest is None:
        return {}
    table = read_parquet(Path(manifest), "curator ingest")
    if "review" not in table:
        return {}
    done = table[table["review"].isin(["relabelled", "confirmed"])]
    return dict(zip(done["path"], done["review_evidence"], strict=True))
