"""Balance stage: class and subgroup statistics from the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curator import artifacts
from curator.checks import CheckInputs, run_check
from curator.io.tables import outputs_committed_together, read_parquet
from curator.params import Params
from curator.stages import write_check_result


@outputs_committed_together()
def run(params: Params, audits_dir: Path) -> dict[str, Any]:
    audits = Path(audits_dir)
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    result = run_check("balance", CheckInputs(manifest=manifest), params)
    write_check_result(result, audits, "balance")
    return result.summary
