"""Label-quality stage: predicted probabilities, confident learning, noise rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.io.sources import read_table
from curator.io.tables import read_parquet, write_parquet
from curator.params import Params
from curator.stages import load_embeddings, write_check_result


def run(params: Params, audits_dir: Path, pred_probs: Path | None = None) -> dict[str, Any]:
    """``pred_probs`` (or label_quality.pred_probs) replaces the cross-validated classifier."""
    audits = Path(audits_dir)
    user_file = pred_probs or params.label_quality.pred_probs
    inputs = CheckInputs(
        manifest=read_parquet(audits / artifacts.MANIFEST, "curator ingest"),
        embeddings=None if user_file else load_embeddings(audits),
        pred_probs=read_table(Path(user_file), "label_quality.pred_probs") if user_file else None,
    )
    result = run_check("label_quality", inputs, params)
    write_parquet(result.tables["pred_probs"], audits / artifacts.PRED_PROBS)
    write_parquet(result.tables["label_issues"], audits / artifacts.LABEL_ISSUES)
    write_check_result(result, audits, "label_quality")
    return result.summary
