"""Agreement stage: annotator agreement, reliability and consensus labels (when votes exist).

``image_probs`` (label_quality's out-of-fold probabilities) lets the consensus weigh what the
image shows against the votes, as much as held-out votes say it should."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.io.tables import outputs_committed_together, read_parquet, write_parquet
from curator.params import Params
from curator.stages import write_check_result


@outputs_committed_together()
def run(params: Params, audits_dir: Path, image_probs: Path | None = None) -> dict[str, Any]:
    audits = Path(audits_dir)
    inputs = CheckInputs(
        manifest=read_parquet(audits / artifacts.MANIFEST, "curator ingest"),
        annotations=read_parquet(audits / artifacts.ANNOTATIONS, "curator ingest"),
        pred_probs=read_parquet(image_probs, "curator label-quality") if image_probs else None,
    )
    result = run_check("agreement", inputs, params)
    write_parquet(result.tables["annotators"], audits / artifacts.ANNOTATORS)
    write_parquet(result.tables["consensus"], audits / artifacts.CONSENSUS)
    write_check_result(result, audits, "agreement")
    return result.summary
